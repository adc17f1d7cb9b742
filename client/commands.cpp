#include "client/commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "base/log.hpp"
#include "base/stderr_log.hpp"
#include "client/control_protocol.hpp"
#include "client/daemon.hpp"
#include "client/identity_check.hpp"
#include "config/load.hpp"
#include "config/peer_config.hpp"
#include "crypto/certificate.hpp"
#include "crypto/network_key.hpp"
#include "crypto/tls_context.hpp"
#include "net/unix_client.hpp"

namespace vpn::client {
namespace {

namespace fs = std::filesystem;

const fs::path kSocketDir = "/run/vpnpeer";

void fail(const std::string& sentence) {
  std::fprintf(stderr, "vpnpeer: %s\n", sentence.c_str());
}

std::string isoTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

bool parseKeyType(const std::string& s, crypto::KeyType& out) {
  if (s == "ed25519") {
    out = crypto::KeyType::kEd25519;
    return true;
  }
  if (s == "p256") {
    out = crypto::KeyType::kEcdsaP256;
    return true;
  }
  return false;
}

// Loads and validates a peer file; prints every problem and returns nullopt on failure.
std::optional<config::PeerConfig> loadOrReport(const fs::path& file) {
  auto r = config::loadPeerConfig(file);
  if (!r.ok()) {
    for (const auto& e : r.error()) {
      std::fprintf(stderr, "%s\n", e.toString().c_str());
    }
    std::fprintf(stderr, "vpnpeer: %s has %zu problem(s)\n", file.string().c_str(),
                 r.error().size());
    return std::nullopt;
  }
  auto file_errors = config::checkFiles(*r);
  if (!file_errors.empty()) {
    for (const auto& e : file_errors) {
      std::fprintf(stderr, "%s\n", e.toString().c_str());
    }
    return std::nullopt;
  }
  return std::move(r.value());
}

std::optional<fs::path> findSocket(const ControlArgs& a) {
  if (a.socket) {
    return *a.socket;
  }
  if (a.config) {
    auto cfg = loadOrReport(*a.config);
    if (!cfg) {
      return std::nullopt;
    }
    return cfg->control_socket;
  }
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kSocketDir, ec)) {
    if (entry.path().extension() == ".sock") {
      found.push_back(entry.path());
    }
  }
  if (found.size() == 1) {
    return found.front();
  }
  if (found.empty()) {
    fail("no vpnpeer is running (no control socket in " + kSocketDir.string() +
         "); start one with `vpnpeer up -c PEER.toml`, or name its socket with --socket");
  } else {
    std::string names;
    for (const auto& p : found) {
      names += (names.empty() ? "" : ", ") + p.filename().string();
    }
    fail("several vpnpeer daemons are running (" + names + "); choose one with -c or --socket");
  }
  return std::nullopt;
}

int control(const ControlArgs& a, std::string_view command, std::string_view argument) {
  auto socket = findSocket(a);
  if (!socket) {
    return 2;
  }
  try {
    auto raw = net::unixRequest(*socket, formatRequest(command, argument),
                                std::chrono::milliseconds(5000));
    auto resp = parseResponse(raw);
    if (!resp.ok) {
      fail(resp.body);
      return 1;
    }
    std::fputs(resp.body.c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {
    fail(e.what());
    return 1;
  }
}

}  // namespace

int runCertCa(const CertCaArgs& a) {
  crypto::CaOptions o;
  o.name = a.name;
  o.validity_days = a.days;
  if (!parseKeyType(a.key_type, o.key_type)) {
    fail("--key-type must be ed25519 or p256");
    return 2;
  }
  if (!config::isValidPeerName(a.name)) {
    fail("--name '" + a.name + "' is not a valid name: use 1 to 64 of a-z 0-9 . _ -");
    return 2;
  }
  try {
    crypto::createCa(o, a.out);
  } catch (const crypto::CryptoError& e) {
    fail(e.what());
    return 1;
  }
  std::printf("wrote %s.crt and %s.key (CA '%s', valid %d days); keep %s.key secret\n",
              a.out.string().c_str(), a.out.string().c_str(), a.name.c_str(), a.days,
              a.out.string().c_str());
  return 0;
}

int runCertSign(const CertSignArgs& a) {
  crypto::SignOptions o;
  o.name = a.name;
  o.rendezvous_role = a.rendezvous;
  o.validity_days = a.days;
  for (const auto& g : a.groups) {
    if (!crypto::isValidGroupName(g)) {
      fail("--group '" + g + "' is not a valid group name: use 1 to 64 of a-z 0-9 . _ -");
      return 2;
    }
    o.groups.push_back(g);
  }
  if (!parseKeyType(a.key_type, o.key_type)) {
    fail("--key-type must be ed25519 or p256");
    return 2;
  }
  if (!config::isValidPeerName(a.name)) {
    fail("--name '" + a.name + "' is not a valid peer name: use 1 to 64 of a-z 0-9 . _ -");
    return 2;
  }
  if (a.ips.empty() && !a.rendezvous) {
    fail("a peer certificate needs its overlay address: add --ip 10.42.0.1/24 (and --ip for IPv6)");
    return 2;
  }
  for (const auto& ip : a.ips) {
    auto p = protocol::IpPrefix::parse(ip);
    if (!p) {
      fail("--ip '" + ip + "' is not an address with a prefix length, e.g. 10.42.0.1/24");
      return 2;
    }
    o.addresses.push_back(*p);
  }
  try {
    crypto::signCertificate(a.ca, o, a.out);
  } catch (const crypto::CryptoError& e) {
    fail(e.what());
    return 1;
  }
  std::printf("wrote %s.crt and %s.key for '%s'\n", a.out.string().c_str(),
              a.out.string().c_str(), a.name.c_str());
  return 0;
}

int runCertShow(const fs::path& cert) {
  try {
    auto id = crypto::readIdentity(cert);
    std::printf("name:        %s\n", id.name.c_str());
    std::printf("role:        %s\n", id.rendezvous_role ? "rendezvous" : "peer");
    for (const auto& g : id.groups) {
      std::printf("group:       %s\n", g.c_str());
    }
    for (const auto& a : id.addresses) {
      std::printf("address:     %s\n", a.toString().c_str());
    }
    std::printf("issuer:      %s\n", id.issuer.c_str());
    std::printf("valid from:  %s\n", isoTime(id.not_before).c_str());
    std::printf("valid until: %s\n", isoTime(id.not_after).c_str());
    std::printf("sha256:      %s\n", id.fingerprint.c_str());
    return 0;
  } catch (const crypto::CryptoError& e) {
    fail(e.what());
    return 1;
  }
}

int runNetworkKeyNew(const fs::path& file) {
  try {
    std::string fingerprint = crypto::writeNewNetworkKey(file);
    std::printf("wrote %s (fingerprint %s); copy it to every peer and rendezvous of the network "
                "and name it with network_key in their files\n",
                file.string().c_str(), fingerprint.c_str());
    return 0;
  } catch (const crypto::CryptoError& e) {
    fail(e.what());
    return 1;
  }
}

int runNetworkKeyShow(const fs::path& file) {
  try {
    auto key = crypto::readNetworkKeyFile(file);
    std::printf("fingerprint: %s\n", key.fingerprint().c_str());
    return 0;
  } catch (const crypto::CryptoError& e) {
    fail(e.what());
    return 1;
  }
}

int runCheck(const fs::path& file) {
  auto cfg = loadOrReport(file);
  if (!cfg) {
    return 2;
  }
  crypto::TlsContextOptions topt;
  topt.ca_cert = cfg->ca;
  topt.cert = cfg->cert;
  topt.key = cfg->key;
  topt.expiry_warning = std::chrono::hours(24 * cfg->tunnel.cert_expiry_warning_days);
  std::unique_ptr<crypto::TlsContext> tls;
  try {
    tls = crypto::TlsContext::create(topt);
  } catch (const crypto::CryptoError& e) {
    std::fprintf(stderr, "%s: %s\n", file.string().c_str(), e.what());
    return 2;
  }
  auto problems = checkIdentity(*cfg, tls->identity());
  for (const auto& p : problems) {
    std::fprintf(stderr, "%s: %s\n", file.string().c_str(), p.c_str());
  }
  std::optional<crypto::NetworkKey> network_key;
  if (cfg->network_key) {
    try {
      network_key = crypto::loadNetworkKey(cfg->network_key->from_ca, cfg->network_key->file,
                                           cfg->ca);
    } catch (const crypto::CryptoError& e) {
      problems.push_back(e.what());
      std::fprintf(stderr, "%s: %s\n", file.string().c_str(), e.what());
    }
  }
  if (!problems.empty()) {
    return 2;
  }
  std::printf("%s: OK: peer '%s', %zu address(es), %zu peer(s), certificate valid until %s\n",
              file.string().c_str(), cfg->name.c_str(), cfg->addresses.size(), cfg->peers.size(),
              isoTime(tls->identity().not_after).c_str());
  const auto window = std::chrono::hours(24 * cfg->tunnel.cert_expiry_warning_days);
  const auto wall = std::chrono::system_clock::now();
  for (const auto& w : {crypto::expiryWarning(tls->identity(), "certificate " + cfg->cert.string(),
                                              window, wall),
                        crypto::expiryWarning(tls->caIdentity(), "CA certificate " + cfg->ca.string(),
                                              window, wall)}) {
    if (!w.empty()) {
      std::printf("%s: warning: %s\n", file.string().c_str(), w.c_str());
    }
  }
  if (std::find(cfg->blocklist.begin(), cfg->blocklist.end(), tls->identity().fingerprint) !=
      cfg->blocklist.end()) {
    std::printf("%s: warning: this peer's own certificate is on its [pki] blocklist\n",
                file.string().c_str());
  }
  if (network_key) {
    std::printf("%s: network key %s, fingerprint %s\n", file.string().c_str(),
                network_key->source() == crypto::NetworkKey::Source::kCa
                    ? "derived from the CA certificate"
                    : cfg->network_key->file.string().c_str(),
                network_key->fingerprint().c_str());
  }
  return 0;
}

int runUp(const fs::path& file, const std::string& log_level_override) {
  auto cfg = loadOrReport(file);
  if (!cfg) {
    return 2;
  }
  log::Level level = log::Level::kInfo;
  log::parseLevel(log_level_override.empty() ? cfg->log_level : log_level_override, level);
  log::installStderrSink(level);
  try {
    Daemon d(std::move(*cfg));
    return d.run();
  } catch (const StartupError& e) {
    fail(e.what());
    return 1;
  }
}

int runStatus(const ControlArgs& a) {
  return control(a, "status", a.json ? "json" : "text");
}

int runDown(const ControlArgs& a) {
  return control(a, "down", "");
}

int runReload(const ControlArgs& a) {
  return control(a, "reload", "");
}

int runExplain(const ControlArgs& a, const std::string& peer) {
  if (!config::isValidPeerName(peer)) {
    fail("'" + peer + "' is not a valid peer name: use 1 to 64 of a-z 0-9 . _ -");
    return 2;
  }
  return control(a, "explain", formatExplainArgument(peer, a.json));
}

}  // namespace vpn::client
