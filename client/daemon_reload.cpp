// SIGHUP and `vpnpeer reload`: the peer file again. What applies live and what needs a restart
// is in client/config_reload.hpp. A file with errors, or credentials that cannot be used, refuse
// the whole reload before anything changes.
#include <algorithm>

#include "base/log.hpp"
#include "client/config_reload.hpp"
#include "client/daemon_impl.hpp"
#include "client/identity_check.hpp"
#include "config/load.hpp"

namespace vpn::client {
namespace {

std::size_t countMissing(const std::vector<config::PeerEntry>& from,
                         const std::vector<config::PeerEntry>& in) {
  return static_cast<std::size_t>(std::count_if(from.begin(), from.end(), [&](const auto& p) {
    return std::none_of(in.begin(), in.end(), [&](const auto& q) { return q.name == p.name; });
  }));
}

}  // namespace

// Returns what happened in one or more lines; `ok` false when the file was refused.
std::string Daemon::Impl::reload(bool& ok) {
  notifier.reloading();
  auto refuse = [&](const std::vector<std::string>& problems) {
    std::string all;
    for (const auto& p : problems) {
      all += p + "\n";
    }
    LOG_ERROR("reload of %s failed, keeping the running configuration: %s", cfg.source.c_str(),
              problems.front().c_str());
    notifier.ready("reload failed; running with the previous configuration");
    ok = false;
    return all + "the running configuration stays\n";
  };
  auto fresh = config::loadPeerConfig(cfg.source);
  if (!fresh.ok()) {
    std::vector<std::string> problems;
    for (const auto& e : fresh.error()) {
      problems.push_back(e.toString());
    }
    return refuse(problems);
  }
  // Credentials are read only when a file (or a path, or the ciphers) changed: an unchanged key
  // may be one the dropped user cannot read.
  const crypto::TlsContextOptions topt = tlsOptions(*fresh);
  std::unique_ptr<crypto::TlsContext> renewed;
  if (credentials->changed(topt)) {
    try {
      renewed = credentials->load(topt, *tls);
    } catch (const crypto::CryptoError& e) {
      return refuse({e.what()});
    }
    // Same name and overlay addresses as the running tunnel (what `check` demands).
    if (auto problems = checkIdentity(cfg, renewed->identity()); !problems.empty()) {
      return refuse(problems);
    }
  }

  Instant now = Clock::now();
  std::vector<std::string> done;
  if (renewed) {
    const std::string before = tls->identity().fingerprint;
    tls->adopt(std::move(renewed));
    credentials->remember(topt);
    cfg.ca = fresh->ca;
    cfg.cert = fresh->cert;
    cfg.key = fresh->key;
    cfg.tunnel.cipher = fresh->tunnel.cipher;
    const auto& id = tls->identity();
    done.push_back(id.fingerprint != before
                       ? "certificate " + cfg.cert.string() + " renewed (valid until " +
                             isoDay(id.not_after) + "), used from the next handshake"
                       : "certificate, key and ciphers read again, used from the next handshake");
  }
  cfg.blocklist = fresh->blocklist;
  tls->setBlocklist(cfg.blocklist);
  engine->closeBlocked(now);
  done.push_back(std::to_string(cfg.blocklist.size()) + " certificate(s) on the blocklist");

  // The peer list: added peers are reached, removed ones closed, the others keep running.
  const std::size_t added = countMissing(fresh->peers, cfg.peers);
  const std::size_t removed = countMissing(cfg.peers, fresh->peers);
  cfg.peers = fresh->peers;
  engine->setPeers(now, engineOptions(cfg).peers);
  done.insert(done.begin(), std::to_string(cfg.peers.size()) + " peer(s) (" +
                                std::to_string(added) + " added, " + std::to_string(removed) +
                                " removed)");

  // Rendezvous servers: unchanged entries keep their sessions; new ones are resolved now.
  if (fresh->rendezvous != cfg.rendezvous) {
    cfg.rendezvous = fresh->rendezvous;
    rendezvous_addresses->setEntries(cfg.rendezvous);
    rendezvous_addresses->refresh(engine->status(now));
    done.push_back(std::to_string(cfg.rendezvous.size()) + " rendezvous server(s), list changed");
  }
  // A --log-level given to `up` stays unless the file's own value changes.
  if (fresh->log_level != cfg.log_level) {
    log::Level level{};
    if (log::parseLevel(fresh->log_level, level)) {
      log::setLevel(level);
      done.push_back("log level " + fresh->log_level);
    }
    cfg.log_level = fresh->log_level;
  }
  cfg.tunnel.cert_expiry_warning_days = fresh->tunnel.cert_expiry_warning_days;

  std::string result = "reloaded " + cfg.source.string() + ": ";
  for (std::size_t i = 0; i < done.size(); ++i) {
    result += (i == 0 ? "" : "; ") + done[i];
  }
  LOG_INFO("%s", result.c_str());
  result += "\n";
  if (auto restart = restartOnlyChanges(cfg, *fresh); !restart.empty()) {
    std::string line = joinKeys(restart) + " changed; " +
                       (restart.size() == 1 ? "it takes" : "they take") +
                       " effect at the next restart (the running values stay)";
    LOG_WARN("%s", line.c_str());
    result += line + "\n";
  }
  notifier.ready("reloaded");
  afterEvent();
  ok = true;
  return result;
}

}  // namespace vpn::client
