#pragma once
// Reading and validating peer files. Each function is self-contained and thread-safe (no shared
// state). Problems in the file are returned as values, never thrown: every ConfigError found is
// reported, sorted by position, each with file:line:col and key path (see config_error.hpp).
// Allocation failure (std::bad_alloc) is the only exception that may escape.
#include <filesystem>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "config/config_error.hpp"
#include "config/peer_config.hpp"

namespace vpn::config {

using ConfigResult = Result<PeerConfig, std::vector<ConfigError>>;

// Parses and validates the TOML text of a peer file. `source` names the file in messages and is
// the base for relative paths (a relative `source` gives relative resolved paths). Never touches
// the file system.
ConfigResult parsePeerConfig(std::string_view toml_text, const std::filesystem::path& source);

// Reads `file` and parses it. A read failure is one ConfigError without position
// ("cannot read alice.toml: No such file or directory"). On success `source` and all paths in
// the result are absolute.
ConfigResult loadPeerConfig(const std::filesystem::path& file);

// Checks that the files named by peer.ca, peer.cert and peer.key exist and are readable by this
// process; one error for each that is not ("peer.key: cannot read /etc/vpnpeer/alice.key:
// Permission denied"). Positions are 0: the PeerConfig no longer knows them.
std::vector<ConfigError> checkFiles(const PeerConfig& cfg);

}  // namespace vpn::config
