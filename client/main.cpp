// vpnpeer: command-line entry point. Parsing is CLI11's; each subcommand lives in commands.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "base/version.hpp"
#include "client/commands.hpp"

int main(int argc, char** argv) {
  using namespace vpn::client;
  CLI::App app{"vpnpeer: a peer-to-peer VPN. Peers authenticate with certificates of the network's "
               "own CA and talk over one UDP port."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vpnpeer ") + vpn::kVersion);

  auto* cert = app.add_subcommand("cert", "create a network CA and sign peer certificates");
  cert->require_subcommand(1);
  CertCaArgs ca_args;
  auto* ca = cert->add_subcommand("ca", "create the network CA (writes OUT.crt and OUT.key)");
  ca->add_option("--name", ca_args.name, "the network's name (certificate CN)")->required();
  ca->add_option("--out", ca_args.out, "output path prefix, e.g. ca")->required();
  ca->add_option("--key-type", ca_args.key_type, "ed25519 or p256")
      ->check(CLI::IsMember({"ed25519", "p256"}));
  ca->add_option("--days", ca_args.days, "validity in days")->check(CLI::Range(1, 36500));

  CertSignArgs sign_args;
  auto* sign = cert->add_subcommand("sign", "sign a peer certificate with the CA");
  sign->add_option("--ca", sign_args.ca, "CA path prefix (reads CA.crt and CA.key)")->required();
  sign->add_option("--name", sign_args.name, "peer name (certificate CN)")->required();
  sign->add_option("--ip", sign_args.ips, "overlay address with prefix, e.g. 10.42.0.1/24; repeat "
                                          "for IPv6");
  sign->add_option("--group", sign_args.groups,
                   "a group the peer belongs to (repeat for more), for firewall rules");
  sign->add_flag("--rendezvous", sign_args.rendezvous, "certificate for a rendezvous server");
  sign->add_option("--out", sign_args.out, "output path prefix, e.g. alice")->required();
  sign->add_option("--key-type", sign_args.key_type, "ed25519 or p256")
      ->check(CLI::IsMember({"ed25519", "p256"}));
  sign->add_option("--days", sign_args.days, "validity in days")->check(CLI::Range(1, 36500));

  std::filesystem::path show_path;
  auto* show = cert->add_subcommand("show", "print what a certificate says");
  show->add_option("cert", show_path, "certificate file")->required();

  auto* netkey = app.add_subcommand(
      "network-key", "create or inspect the optional network key (docs/hardening.md)");
  netkey->require_subcommand(1);
  std::filesystem::path netkey_new_path;
  auto* netkey_new = netkey->add_subcommand("new", "write a new random network key (mode 0600)");
  netkey_new->add_option("file", netkey_new_path, "output file, e.g. network.key")->required();
  std::filesystem::path netkey_show_path;
  auto* netkey_show =
      netkey->add_subcommand("show", "print a key's fingerprint (the same on every host)");
  netkey_show->add_option("file", netkey_show_path, "network key file")->required();

  std::filesystem::path check_path;
  auto* check = app.add_subcommand("check", "validate a peer file and its certificates");
  check->add_option("-c,--config", check_path, "peer file")->required();

  std::filesystem::path up_path;
  std::string log_level;
  auto* up = app.add_subcommand("up", "bring the tunnel up (foreground; Ctrl-C stops it)");
  up->add_option("-c,--config", up_path, "peer file")->required();
  up->add_option("--log-level", log_level, "debug, info, warn or error (overrides the peer file)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  ControlArgs status_args;
  std::filesystem::path status_cfg;
  std::filesystem::path status_sock;
  auto* status = app.add_subcommand("status", "show peers, paths, RTT and counters of a running up");
  auto* sc = status->add_option("-c,--config", status_cfg, "peer file (to find its control socket)");
  auto* ss = status->add_option("--socket", status_sock, "control socket path");
  sc->excludes(ss);
  status->add_flag("--json", status_args.json, "stable JSON output (see docs/status.md)");

  ControlArgs down_args;
  std::filesystem::path down_cfg;
  std::filesystem::path down_sock;
  auto* down = app.add_subcommand("down", "stop a running up");
  auto* dc = down->add_option("-c,--config", down_cfg, "peer file (to find its control socket)");
  auto* ds = down->add_option("--socket", down_sock, "control socket path");
  dc->excludes(ds);

  ControlArgs reload_args;
  std::filesystem::path reload_cfg;
  std::filesystem::path reload_sock;
  auto* reload = app.add_subcommand(
      "reload", "re-read the peer file of a running up (what can change without a restart)");
  auto* rc = reload->add_option("-c,--config", reload_cfg, "peer file (to find its control socket)");
  auto* rs = reload->add_option("--socket", reload_sock, "control socket path");
  rc->excludes(rs);

  ControlArgs explain_args;
  std::string explain_peer;
  std::filesystem::path explain_cfg;
  std::filesystem::path explain_sock;
  auto* explain = app.add_subcommand(
      "explain", "say why a peer is on its path (direct or relayed) and what would make it direct");
  explain->add_option("peer", explain_peer, "the peer's name")->required();
  auto* ec =
      explain->add_option("-c,--config", explain_cfg, "peer file (to find its control socket)");
  auto* es = explain->add_option("--socket", explain_sock, "control socket path");
  ec->excludes(es);
  explain->add_flag("--json", explain_args.json, "the same facts as JSON (see docs/explain.md)");

  NetcheckArgs netcheck_args;
  std::filesystem::path netcheck_cfg;
  std::string netcheck_server;
  auto* netcheck = app.add_subcommand(
      "netcheck", "ask a rendezvous server (STUN) for our public endpoint and the NAT's type");
  auto* nc = netcheck->add_option("-c,--config", netcheck_cfg,
                                  "peer file (uses its first [[rendezvous]] server)");
  auto* ns = netcheck->add_option("--server", netcheck_server, "server as HOST:PORT");
  nc->excludes(ns);
  netcheck->add_flag("--json", netcheck_args.json, "stable JSON output");
  netcheck->add_flag("--mapping-lifetime", netcheck_args.mapping_lifetime,
                     "also measure how long the NAT keeps an idle UDP mapping (takes up to 3 min)");
  netcheck->add_option("--timeout", netcheck_args.timeout_s,
                       "seconds to wait for the answer to each test (default 3)")
      ->check(CLI::Range(0.2, 60.0));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*ca) {
    return runCertCa(ca_args);
  }
  if (*sign) {
    return runCertSign(sign_args);
  }
  if (*show) {
    return runCertShow(show_path);
  }
  if (*netkey_new) {
    return runNetworkKeyNew(netkey_new_path);
  }
  if (*netkey_show) {
    return runNetworkKeyShow(netkey_show_path);
  }
  if (*check) {
    return runCheck(check_path);
  }
  if (*up) {
    return runUp(up_path, log_level);
  }
  if (*status) {
    if (*sc) {
      status_args.config = status_cfg;
    }
    if (*ss) {
      status_args.socket = status_sock;
    }
    return runStatus(status_args);
  }
  if (*down) {
    if (*dc) {
      down_args.config = down_cfg;
    }
    if (*ds) {
      down_args.socket = down_sock;
    }
    return runDown(down_args);
  }
  if (*reload) {
    if (*rc) {
      reload_args.config = reload_cfg;
    }
    if (*rs) {
      reload_args.socket = reload_sock;
    }
    return runReload(reload_args);
  }
  if (*explain) {
    if (*ec) {
      explain_args.config = explain_cfg;
    }
    if (*es) {
      explain_args.socket = explain_sock;
    }
    return runExplain(explain_args, explain_peer);
  }
  if (*netcheck) {
    if (*nc) {
      netcheck_args.config = netcheck_cfg;
    }
    if (*ns) {
      netcheck_args.server = netcheck_server;
    }
    return runNetcheck(netcheck_args);
  }
  return 2;
}
