#pragma once
// TestPki: a throwaway network CA in a temp directory, issuing peer certificates and TlsContexts
// for tests. The directory is removed on destruction.
#include <filesystem>
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

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path caCert() const { return dir_ / "ca.crt"; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path ca_;
  int serial_ = 0;
};

}  // namespace vpn::test
