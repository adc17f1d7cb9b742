// The semantic pass: what the values mean. std only; positions come from the RawPeerFile.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>

#include "config/raw_peer_file.hpp"
#include "config/suggest.hpp"
#include "config/name_checks.hpp"
#include "config/text_util.hpp"

namespace vpn::config {

namespace detail {

namespace {

constexpr std::string_view kLogLevels[] = {"debug", "info", "warn", "error"};
constexpr std::string_view kCiphers[] = {"auto", "aes-256-gcm", "chacha20-poly1305"};
constexpr std::string_view kOffloads[] = {"udp-gso", "udp-gro", "tun-tso", "tun-uso", "tun-gro"};
constexpr std::size_t kMaxSocketPath = 107;   // sizeof(sockaddr_un::sun_path) - 1
constexpr std::int64_t kMinMtuIpv6 = 1280;    // RFC 8200, section 5
constexpr std::size_t kMaxTcpAdvertise = 4;   // candidates travel in one introduction

// "10.42.0.0/24" -> "10.42.0.1/24": the first host address of a network.
std::string firstHost(const protocol::IpPrefix& net) {
  std::array<std::uint8_t, 16> b{};
  const protocol::IpAddress& a = net.address();
  std::copy(a.bytes(), a.bytes() + a.size(), b.begin());
  b[a.size() - 1] = static_cast<std::uint8_t>(b[a.size() - 1] | 1u);
  auto host = a.isV4() ? protocol::IpAddress::v4(b.data()) : protocol::IpAddress::v6(b.data());
  return protocol::IpPrefix(host, net.length()).toString();
}

class Validator {
 public:
  Validator(const RawPeerFile& raw, const std::string& file, std::filesystem::path base_dir,
            std::vector<ConfigError>& errors)
      : raw_(raw), file_(file), base_dir_(std::move(base_dir)), errors_(errors) {}

  PeerConfig run() {
    PeerConfig cfg;
    checkName(cfg);
    checkAddresses(cfg);
    checkListen(cfg);
    checkTcp(cfg);
    cfg.ca = path(raw_.ca, "peer.ca");
    cfg.cert = path(raw_.cert, "peer.cert");
    cfg.key = path(raw_.key, "peer.key");
    if (raw_.network_key.value) {
      if (*raw_.network_key.value == "ca") {
        cfg.network_key = NetworkKeySetting{true, {}};
      } else if (auto file = path(raw_.network_key, "peer.network_key"); !file.empty()) {
        cfg.network_key = NetworkKeySetting{false, file};
      }
    }
    if (raw_.user.value) {
      if (raw_.user.value->empty() || raw_.user.value->size() > 32) {
        error(raw_.user.pos, "peer.user", "must be a user name of 1 to 32 characters");
      } else {
        cfg.user = *raw_.user.value;
      }
    }
    checkControlSocket(cfg);
    checkLogLevel(cfg);
    checkTun(cfg);
    checkTunnel(cfg.tunnel);
    checkPeers(cfg);
    checkRendezvous(cfg);
    checkPaths(cfg.paths);
    cfg.nat.port_mapping = raw_.port_mapping.value.value_or(true);
    cfg.nat.learn_keepalive = raw_.learn_keepalive.value.value_or(true);
    checkPrediction(cfg.nat);
    if (raw_.metrics_listen.value) {
      auto ep = protocol::Endpoint::parse(*raw_.metrics_listen.value);
      if (!ep || ep->port() == 0) {
        error(raw_.metrics_listen.pos, "metrics.listen",
              showValue(*raw_.metrics_listen.value) +
                  " is not an address and port, e.g. \"127.0.0.1:9478\"");
      } else {
        cfg.metrics_listen = *ep;
      }
    }
    if (raw_.blocklist.value) {
      for (const auto& entry : *raw_.blocklist.value) {
        if (auto fp = normalizeFingerprint(entry.text)) {
          cfg.blocklist.push_back(*fp);
        } else {
          error(entry.pos, entry.key_path,
                "'" + entry.text + "' is not a certificate fingerprint: 64 hex digits, as "
                "`vpnpeer cert show` prints after sha256:");
        }
      }
    }
    return cfg;
  }

 private:
  void error(Pos pos, std::string key_path, std::string message) {
    errors_.push_back(ConfigError{file_, pos.line, pos.column, std::move(key_path),
                                  std::move(message)});
  }

  void checkName(PeerConfig& cfg) {
    if (!raw_.name.value) {
      return;
    }
    const std::string& name = *raw_.name.value;
    if (!isValidPeerName(name)) {
      error(raw_.name.pos, "peer.name", badNameMessage(name));
      return;
    }
    cfg.name = name;
    name_ok_ = true;
  }

  static std::string badNameMessage(std::string_view name) {
    return showValue(name) +
           " is not a valid peer name: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-', "
           "starting with a letter or digit";
  }

  void checkAddresses(PeerConfig& cfg) {
    if (!raw_.address.value) {
      return;
    }
    const auto& list = *raw_.address.value;
    if (list.empty()) {
      error(raw_.address.pos, "peer.address", "must contain at least one address");
      return;
    }
    bool have_v4 = false;
    bool have_v6 = false;
    for (const RawAddress& a : list) {
      auto prefix = a.text.find('/') != std::string::npos ? protocol::IpPrefix::parse(a.text)
                                                           : std::nullopt;
      if (!prefix) {
        std::string example = a.text.find(':') != std::string::npos ? "\"fd42::1/64\""
                                                                    : "\"10.42.0.1/24\"";
        error(a.pos, a.key_path,
              showValue(a.text) + " is not an IP address with a prefix length, e.g. " + example);
        continue;
      }
      const protocol::IpAddress& ip = prefix->address();
      std::size_t max_len = ip.isV4() ? 32 : 128;
      if (ip.isUnspecified() || ip.isLoopback()) {
        error(a.pos, a.key_path,
              showValue(a.text) + " is not usable as an overlay address (unspecified or loopback)");
        continue;
      }
      if (prefix->length() + 1u < max_len && prefix->network().address() == ip) {
        error(a.pos, a.key_path,
              showValue(a.text) +
                  " is the network address of its subnet; give this peer's own address in it, "
                  "e.g. \"" + firstHost(*prefix) + "\"");
        continue;
      }
      bool& seen = ip.isV4() ? have_v4 : have_v6;
      if (seen) {
        error(a.pos, a.key_path,
              showValue(a.text) + " is a second " + (ip.isV4() ? "IPv4" : "IPv6") +
                  " address; at most one IPv4 and one IPv6 address are allowed");
        continue;
      }
      seen = true;
      cfg.addresses.push_back(*prefix);
    }
    have_v6_ = have_v6;
  }

  void checkListen(PeerConfig& cfg) {
    if (!raw_.listen.value) {
      return;
    }
    const std::string& text = *raw_.listen.value;
    auto ep = protocol::Endpoint::parse(text);
    if (!ep) {
      std::string hint = isOnlyDigits(text) ? " (an address is needed too)" : "";
      error(raw_.listen.pos, "peer.listen",
            showValue(text) + " is not an IP address and port" + hint +
                ", e.g. \"0.0.0.0:51820\", or \"[::]:51820\" for dual stack");
      return;
    }
    if (ep->port() == 0) {
      error(raw_.listen.pos, "peer.listen",
            showValue(text) +
                ": port 0 is not allowed; other peers need a fixed port to reach this one");
      return;
    }
    cfg.listen = *ep;
    listen_ok_ = true;
  }

  void checkTcp(PeerConfig& cfg) {
    cfg.tcp_listen = raw_.tcp_listen.value.value_or(false);
    if (!raw_.tcp_advertise.value) {
      return;
    }
    const auto& list = *raw_.tcp_advertise.value;
    if (!cfg.tcp_listen) {
      error(raw_.tcp_advertise.pos, "peer.tcp_advertise",
            "requires peer.tcp_listen = true: only a peer that accepts TCP can advertise where");
      return;
    }
    if (list.size() > kMaxTcpAdvertise) {
      error(raw_.tcp_advertise.pos, "peer.tcp_advertise",
            "lists " + std::to_string(list.size()) + " endpoints; at most " +
                std::to_string(kMaxTcpAdvertise) + " are allowed");
      return;
    }
    for (const RawAddress& a : list) {
      auto ep = protocol::Endpoint::parse(a.text);
      if (!ep) {
        error(a.pos, a.key_path,
              showValue(a.text) +
                  " is not an IP address and port, e.g. \"203.0.113.9:51820\" or "
                  "\"[2001:db8::9]:51820\" (host names are not supported)");
        continue;
      }
      if (ep->port() == 0 || ep->address().isUnspecified()) {
        error(a.pos, a.key_path,
              showValue(a.text) + " cannot be reached: it needs a specific address and a port "
                                  "other than 0");
        continue;
      }
      if (std::find(cfg.tcp_advertise.begin(), cfg.tcp_advertise.end(), *ep) !=
          cfg.tcp_advertise.end()) {
        error(a.pos, a.key_path, showValue(a.text) + " is listed twice");
        continue;
      }
      cfg.tcp_advertise.push_back(*ep);
    }
  }

  // A duration in seconds within [lo, hi], as milliseconds; reports it otherwise.
  void seconds(const Raw<RawSeconds>& raw, const char* key_path, double lo, double hi,
               std::chrono::milliseconds& out) {
    if (!raw.value) {
      return;
    }
    double v = raw.value->value;
    if (!(v >= lo && v <= hi)) {  // also false for NaN
      error(raw.pos, key_path,
            showNumber(*raw.value) + " is out of range " + showNumber({lo, false}) + ".." +
                showNumber({hi, false}) + " seconds");
      return;
    }
    out = std::chrono::milliseconds(std::llround(v * 1000.0));
  }

  static std::string showNumber(const RawSeconds& n) {
    if (n.is_integer) {
      return std::to_string(static_cast<std::int64_t>(n.value));
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", n.value);
    return buf;
  }

  void checkPaths(PathSettings& p) {
    if (raw_.relay.value) {
      p.relay = *raw_.relay.value;
    }
    if (raw_.pmtu_discovery.value) {
      p.pmtu_discovery = *raw_.pmtu_discovery.value;
    }
    seconds(raw_.relay_after, "paths.relay_after", 0.2, 60, p.relay_after);
    seconds(raw_.demote_after, "paths.demote_after", 1, 120, p.demote_after);
    seconds(raw_.udp_timeout, "paths.udp_timeout", 1, 60, p.udp_timeout);
  }

  std::filesystem::path resolve(const std::string& text) const {
    std::filesystem::path p(text);
    if (p.is_relative() && !base_dir_.empty()) {
      p = base_dir_ / p;
    }
    return p.lexically_normal();
  }

  std::filesystem::path path(const Raw<std::string>& raw, const char* key_path) {
    if (!raw.value) {
      return {};
    }
    if (raw.value->empty()) {
      error(raw.pos, key_path, "must not be empty");
      return {};
    }
    return resolve(*raw.value);
  }

  void checkControlSocket(PeerConfig& cfg) {
    if (raw_.control_socket.value) {
      cfg.control_socket = path(raw_.control_socket, "peer.control_socket");
    } else if (name_ok_) {
      cfg.control_socket = "/run/vpnpeer/" + cfg.name + ".sock";
    }
    std::size_t len = cfg.control_socket.native().size();
    if (len > kMaxSocketPath) {
      error(raw_.control_socket.value ? raw_.control_socket.pos : raw_.name.pos,
            "peer.control_socket",
            "'" + cfg.control_socket.string() + "' is " + std::to_string(len) +
                " bytes long; a Unix socket path can have at most " +
                std::to_string(kMaxSocketPath));
    }
  }

  void checkLogLevel(PeerConfig& cfg) {
    if (!raw_.log_level.value) {
      return;
    }
    const std::string& v = *raw_.log_level.value;
    if (!contains(kLogLevels, v)) {
      error(raw_.log_level.pos, "peer.log_level",
            showValue(v) + " is not a log level; use one of " + joinList(kLogLevels) +
                didYouMean(v, kLogLevels));
      return;
    }
    cfg.log_level = v;
  }

  void checkTun(PeerConfig& cfg) {
    if (raw_.tun_name.value) {
      const std::string& n = *raw_.tun_name.value;
      if (std::string why = tunNameProblem(n); !why.empty()) {
        error(raw_.tun_name.pos, "tun.name", showValue(n) + why);
      } else {
        cfg.tun_name = n;
      }
    }
    if (raw_.mtu.value) {
      std::int64_t mtu = *raw_.mtu.value;
      if (mtu < 576 || mtu > 9000) {
        error(raw_.mtu.pos, "tun.mtu", std::to_string(mtu) + " is out of range 576..9000");
      } else if (have_v6_ && mtu < kMinMtuIpv6) {
        error(raw_.mtu.pos, "tun.mtu",
              std::to_string(mtu) +
                  " is too small for the IPv6 address in peer.address: IPv6 requires every link "
                  "to carry packets of at least 1280 bytes (RFC 8200); use 1280 or more");
      } else {
        cfg.mtu = static_cast<int>(mtu);
      }
    }
  }

  // Returns the value if it is present and within [lo, hi]; reports it otherwise.
  std::optional<std::int64_t> inRange(const Raw<std::int64_t>& raw, const char* key_path,
                                      std::int64_t lo, std::int64_t hi, const char* unit) {
    if (!raw.value) {
      return std::nullopt;
    }
    if (*raw.value < lo || *raw.value > hi) {
      error(raw.pos, key_path,
            std::to_string(*raw.value) + " is out of range " + std::to_string(lo) + ".." +
                std::to_string(hi) + " " + unit);
      return std::nullopt;
    }
    return raw.value;
  }

  void checkPrediction(NatSettings& n) {
    n.port_prediction = raw_.port_prediction.value.value_or(false);
    // Bounded so that it never looks like a port scan, and the sockets fit the fd limit.
    if (auto v = inRange(raw_.prediction_sockets, "nat.prediction_sockets", 1, 512, "sockets")) {
      n.prediction_sockets = static_cast<std::size_t>(*v);
    }
    if (auto v = inRange(raw_.prediction_probes, "nat.prediction_probes", 1, 16384, "probes")) {
      n.prediction_probes = static_cast<std::size_t>(*v);
    }
    if (auto v = inRange(raw_.prediction_rate, "nat.prediction_rate", 1, 2000,
                         "probes a second")) {
      n.prediction_rate = static_cast<std::size_t>(*v);
    }
  }

  void checkTunnel(TunnelSettings& t) {
    if (raw_.cipher.value) {
      const std::string& c = *raw_.cipher.value;
      if (contains(kCiphers, c)) {
        t.cipher = c;
      } else {
        error(raw_.cipher.pos, "tunnel.cipher",
              showValue(c) + " is not a supported cipher; use one of " + joinList(kCiphers) +
                  didYouMean(c, kCiphers));
      }
    }
    if (raw_.offloads.value) {  // a list replaces the default (all); [] turns them all off
      t.udp_gso = t.udp_gro = t.tun_tso = t.tun_uso = t.tun_gro = false;
      for (const auto& entry : *raw_.offloads.value) {
        if (entry.text == "udp-gso") {
          t.udp_gso = true;
        } else if (entry.text == "udp-gro") {
          t.udp_gro = true;
        } else if (entry.text == "tun-tso") {
          t.tun_tso = true;
        } else if (entry.text == "tun-uso") {
          t.tun_uso = true;
        } else if (entry.text == "tun-gro") {
          t.tun_gro = true;
        } else {
          error(entry.pos, entry.key_path,
                showValue(entry.text) + " is not an offload; use any of " + joinList(kOffloads) +
                    didYouMean(entry.text, kOffloads));
        }
      }
    }
    auto keepalive = inRange(raw_.keepalive, "tunnel.keepalive", 1, 3600, "seconds");
    auto rekey = inRange(raw_.rekey, "tunnel.rekey", 10, 86400, "seconds");
    if (auto rh = inRange(raw_.rehandshake, "tunnel.rehandshake", 0, 86400, "seconds")) {
      if (*rh != 0 && *rh < 10) {
        error(raw_.rehandshake.pos, "tunnel.rehandshake",
              "must be 0 (never) or at least 10 seconds, got " + std::to_string(*rh));
      } else {
        t.rehandshake = std::chrono::seconds(*rh);
      }
    }
    if (auto w = inRange(raw_.workers, "tunnel.workers", 0, 64, "threads")) {
      t.workers = static_cast<int>(*w);
    }
    auto dead = inRange(raw_.dead_peer, "tunnel.dead_peer", 3, 86400, "seconds");
    auto warn = inRange(raw_.cert_expiry_warning_days, "tunnel.cert_expiry_warning_days", 0, 3650,
                        "days");
    bool keepalive_ok = keepalive.has_value() || !raw_.keepalive.value;
    bool dead_ok = dead.has_value() || !raw_.dead_peer.value;
    if (keepalive) {
      t.keepalive = std::chrono::seconds(*keepalive);
    }
    if (rekey) {
      t.rekey = std::chrono::seconds(*rekey);
    }
    if (dead) {
      t.dead_peer = std::chrono::seconds(*dead);
    }
    if (warn) {
      t.cert_expiry_warning_days = static_cast<int>(*warn);
    }
    if (keepalive_ok && dead_ok && t.dead_peer.count() <= 2 * t.keepalive.count()) {
      std::string twice = "2 x " + std::to_string(t.keepalive.count()) + " = " +
                          std::to_string(2 * t.keepalive.count());
      const char* why = ", so that losing two keepalives in a row does not tear the tunnel down";
      if (raw_.dead_peer.value) {
        error(raw_.dead_peer.pos, "tunnel.dead_peer",
              std::to_string(t.dead_peer.count()) + " seconds must exceed twice keepalive (" +
                  twice + ")" + why);
      } else {
        error(raw_.keepalive.pos, "tunnel.keepalive",
              "with keepalive " + std::to_string(t.keepalive.count()) +
                  ", dead_peer must exceed " + twice + " but is " +
                  std::to_string(t.dead_peer.count()) + " (the default); set tunnel.dead_peer" +
                  why);
      }
    }
  }

  void checkPeers(PeerConfig& cfg) {
    std::map<std::string, Pos, std::less<>> seen;
    for (const RawPeerEntry& e : raw_.peers) {
      PeerEntry out;
      bool ok = true;
      std::string name_path = e.key_path + ".name";
      if (e.name.value) {
        const std::string& n = *e.name.value;
        if (!isValidPeerName(n)) {
          error(e.name.pos, name_path, badNameMessage(n));
          ok = false;
        } else if (name_ok_ && n == cfg.name) {
          error(e.name.pos, name_path,
                showValue(n) + " is this peer's own name (peer.name); list only the other peers");
          ok = false;
        } else if (auto it = seen.find(n); it != seen.end()) {
          error(e.name.pos, name_path,
                "duplicate peer name " + showValue(n) + " (first listed at line " +
                    std::to_string(it->second.line) + ")");
          ok = false;
        } else {
          seen.emplace(n, e.name.pos);
          out.name = n;
        }
      } else {
        ok = false;
      }
      if (e.endpoint.value && !checkEndpoint(e, cfg, out)) {
        ok = false;
      }
      if (ok) {
        cfg.peers.push_back(std::move(out));
      }
    }
  }

  void checkRendezvous(PeerConfig& cfg) {
    for (const RawRendezvousEntry& e : raw_.rendezvous) {
      if (!e.address.value) {
        continue;
      }
      const std::string& text = *e.address.value;
      auto hp = parseHostPort(text);
      std::string key_path = e.key_path + ".address";
      if (!hp) {
        error(e.address.pos, key_path,
              showValue(text) + " is not a host and UDP port, e.g. \"rv1.example.net:3478\", "
                                "\"198.51.100.1:3478\" or \"[2001:db8::1]:3478\"");
        continue;
      }
      if (!checkRendezvousTcp(e, *hp)) {
        continue;
      }
      bool dup = false;
      for (const auto& r : cfg.rendezvous) {
        dup = dup || (r.host == hp->host && r.port == hp->port);
      }
      if (dup) {
        error(e.address.pos, key_path, showValue(text) + " is listed twice");
        continue;
      }
      if (e.name.value) {
        if (!isValidPeerName(*e.name.value)) {
          error(e.name.pos, e.key_path + ".name",
                showValue(*e.name.value) + " is not a certificate name: 1 to 64 of a-z 0-9 . _ -");
          continue;
        }
        hp->name = *e.name.value;
      }
      cfg.rendezvous.push_back(*hp);
    }
  }

  // The entry's tcp and tls keys, into `out`; false (and reported) when they are wrong. Without a
  // tcp key the server's TCP listener is looked for at its UDP address and port (the rendezvous
  // listens there by default); tcp = false turns the fallback off.
  bool checkRendezvousTcp(const RawRendezvousEntry& e, RendezvousEntry& out) {
    bool ok = true;
    if (e.tcp.value) {
      auto tcp = parseHostPort(*e.tcp.value);
      if (tcp) {
        out.tcp_host = tcp->host;
        out.tcp_port = tcp->port;
      } else {
        error(e.tcp.pos, e.key_path + ".tcp",
              showValue(*e.tcp.value) +
                  " is not a host and TCP port, e.g. \"rv1.example.net:443\", "
                  "\"198.51.100.1:443\" or \"[2001:db8::1]:443\"");
        ok = false;
      }
    } else if (e.tcp_enabled.value.value_or(true)) {
      out.tcp_host = out.host;
      out.tcp_port = out.port;
      out.tcp_implicit = true;
    }
    if (e.tls.value) {
      if (!out.tcp_host && ok) {
        error(e.tls.pos, e.key_path + ".tls",
              "only applies to the TCP fallback, which tcp = false turns off; remove tls or tcp");
        ok = false;
      }
      out.tls = *e.tls.value;
    }
    return ok;
  }

  bool checkEndpoint(const RawPeerEntry& e, const PeerConfig& cfg, PeerEntry& out) {
    const std::string& text = *e.endpoint.value;
    std::string key_path = e.key_path + ".endpoint";
    auto ep = protocol::Endpoint::parse(text);
    if (!ep) {
      error(e.endpoint.pos, key_path,
            showValue(text) +
                " is not an IP address and port, e.g. \"192.0.2.7:51820\" or "
                "\"[2001:db8::7]:51820\" (host names are not supported)");
      return false;
    }
    if (ep->port() == 0 || ep->address().isUnspecified()) {
      error(e.endpoint.pos, key_path,
            showValue(text) + " cannot be reached: it needs a specific address and a port other "
                           "than 0");
      return false;
    }
    if (listen_ok_) {
      const protocol::Endpoint& l = cfg.listen;
      bool v4_only = l.address().isV4();
      bool v6_only = l.address().isV6() && !l.address().isUnspecified();
      if ((v4_only && ep->address().isV6()) || (v6_only && ep->address().isV4())) {
        error(e.endpoint.pos, key_path,
              showValue(text) + " is " + (ep->address().isV6() ? "IPv6" : "IPv4") +
                  ", but peer.listen '" + l.toString() + "' only covers " +
                  (v4_only ? "IPv4" : "IPv6") + "; listen on \"[::]:" +
                  std::to_string(l.port()) + "\" for dual stack");
        return false;
      }
    }
    out.endpoint = *ep;
    return true;
  }

  const RawPeerFile& raw_;
  const std::string& file_;
  std::filesystem::path base_dir_;
  std::vector<ConfigError>& errors_;
  bool name_ok_ = false;
  bool listen_ok_ = false;
  bool have_v6_ = false;
};

}  // namespace

PeerConfig validatePeerFile(const RawPeerFile& raw, const std::string& file,
                            const std::filesystem::path& base_dir,
                            std::vector<ConfigError>& errors) {
  return Validator(raw, file, base_dir, errors).run();
}

}  // namespace detail

}  // namespace vpn::config
