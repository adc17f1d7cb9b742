#pragma once
// Shared helpers for the crypto tests: a temp directory, hex conversion, a small test network
// (CA plus signed peers on disk) and a loop that carries bytes between two TlsSessions.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/certificate.hpp"
#include "crypto/tls_context.hpp"
#include "crypto/tls_session.hpp"

namespace vpn::crypto::test {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::vector<std::uint8_t> fromHex(std::string_view hex);
std::string toHex(std::span<const std::uint8_t> bytes);

// Writes <dir>/<name>.crt and .key, signed by the CA at <dir>/<ca>.
void signPeer(const TempDir& dir, const std::string& ca, const std::string& name,
              KeyType key_type = KeyType::kEd25519, int days = 365);

TlsContextOptions contextOptions(const TempDir& dir, const std::string& ca,
                                 const std::string& name);

// Everything one side sent, so tests can replay it.
struct Transcript {
  std::vector<std::uint8_t> client_to_server;
  std::vector<std::uint8_t> server_to_client;
};

// Moves bytes both ways until neither side has anything to say. Returns what was carried.
Transcript runHandshake(TlsSession& client, TlsSession& server);

}  // namespace vpn::crypto::test
