// vpnpeer-rendezvous: the rendezvous server. `vpnpeer-rendezvous -c rendezvous.toml`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "base/log.hpp"
#include "base/stderr_log.hpp"
#include "base/version.hpp"
#include "config/rendezvous_config.hpp"
#include "rendezvous/server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vpnpeer-rendezvous: tells vpnpeer peers behind NATs where to find each other "
               "(registration, introductions, STUN)."};
  app.set_version_flag("--version", std::string("vpnpeer-rendezvous ") + vpn::kVersion);
  std::string config_path;
  std::string log_level;
  app.add_option("-c,--config", config_path, "rendezvous file (rendezvous.toml)")->required();
  app.add_option("--log-level", log_level, "debug, info, warn or error (overrides the file)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  auto cfg = vpn::config::loadRendezvousConfig(config_path);
  if (!cfg) {
    for (const auto& e : cfg.error()) {
      std::fprintf(stderr, "%s\n", e.toString().c_str());
    }
    return 2;
  }
  vpn::log::Level level = vpn::log::Level::kInfo;
  vpn::log::parseLevel(log_level.empty() ? cfg->log_level : log_level, level);
  vpn::log::installStderrSink(level);
  try {
    vpn::rendezvous::Server server(std::move(*cfg));
    return server.run();
  } catch (const vpn::rendezvous::StartupError& e) {
    std::fprintf(stderr, "vpnpeer-rendezvous: %s\n", e.what());
    return 1;
  }
}
