#pragma once
// The `vpnpeer` subcommands. Each returns the process exit code: 0 success, 1 a runtime failure
// (reported on stderr in one sentence), 2 bad input (usage, peer file or certificate problems).
// Each prints its own messages; none throws.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vpn::client {

struct CertCaArgs {
  std::string name;
  std::filesystem::path out;
  std::string key_type = "ed25519";
  int days = 3650;
};
struct CertSignArgs {
  std::filesystem::path ca;
  std::string name;
  std::vector<std::string> ips;
  std::vector<std::string> groups;
  bool rendezvous = false;
  std::filesystem::path out;
  std::string key_type = "ed25519";
  int days = 365;
};
struct ControlArgs {
  std::optional<std::filesystem::path> config;
  std::optional<std::filesystem::path> socket;
  bool json = false;
};

int runCertCa(const CertCaArgs& a);
int runCertSign(const CertSignArgs& a);
int runCertShow(const std::filesystem::path& cert);
// `network-key new FILE` / `network-key show FILE`.
int runNetworkKeyNew(const std::filesystem::path& file);
int runNetworkKeyShow(const std::filesystem::path& file);
int runCheck(const std::filesystem::path& config);
int runUp(const std::filesystem::path& config, const std::string& log_level_override);
int runStatus(const ControlArgs& a);
int runDown(const ControlArgs& a);
int runReload(const ControlArgs& a);
// `vpnpeer explain PEER`: asks the daemon why PEER is on its path (docs/explain.md). Exit 2 for a
// name that cannot be a peer name, 1 when the daemon does not know the peer or cannot be reached.
int runExplain(const ControlArgs& a, const std::string& peer);

// `vpnpeer netcheck` (client/netcheck_command.cpp): the server is `server` ("HOST:PORT") or else
// the first [[rendezvous]] of the peer file `config`. Exit 0 with a result (even "UDP blocked"),
// 1 if the server can't be resolved or no socket can be opened, 2 on bad input.
struct NetcheckArgs {
  std::optional<std::filesystem::path> config;
  std::optional<std::string> server;
  bool json = false;
  double timeout_s = 3.0;  // per test
  bool mapping_lifetime = false;  // also measure the NAT's idle mapping lifetime (up to ~3 min)
};
int runNetcheck(const NetcheckArgs& a);

}  // namespace vpn::client
