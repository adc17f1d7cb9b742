#pragma once
// TestPki: a throwaway network CA in a temp directory, issuing peer certificates and TlsContexts
// for tests. The directory is removed on destruction.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "crypto/tls_context.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::test {

class TestPki {
 public:
  explicit TestPki(std::string ca_name = "test-ca");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // Issues a certificate for `name` with the given overlay addresses ("10.42.0.1/24", ...) and
  // returns a context using it.
  std::unique_ptr<crypto::TlsContext> makeContext(
      const std::string& name, const std::vector<std::string>& addresses,
      std::vector<crypto::CipherSuite> ciphers = crypto::defaultCipherOrder());

  // The same with a certificate valid only until `not_after` (from 5 minutes ago).
  std::unique_ptr<crypto::TlsContext> makeContextUntil(
      const std::string& name, const std::vector<std::string>& addresses,
      std::chrono::system_clock::time_point not_after);
  // The SHA-256 fingerprint of the last certificate made for `name` ("" if none).
  std::string fingerprintOf(const std::string& name) const;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path caCert() const { return dir_ / "ca.crt"; }

 private:
  std::unique_ptr<crypto::TlsContext> make(
      const std::string& name, const std::vector<std::string>& addresses,
      std::vector<crypto::CipherSuite> ciphers,
      std::optional<std::chrono::system_clock::time_point> not_after);

  std::filesystem::path dir_;
  std::filesystem::path ca_;
  int serial_ = 0;
  std::map<std::string, std::filesystem::path> last_cert_;
};

}  // namespace vpn::test
