#include "tests/fakes/test_pki.hpp"

#include <stdlib.h>

#include <stdexcept>

#include "crypto/certificate.hpp"
#include "crypto/internal/openssl_util.hpp"

namespace vpn::test {

TestPki::TestPki(std::string ca_name) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "vpnpeer-pki-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot create temp dir");
  }
  dir_ = tmpl;
  ca_ = dir_ / "ca";
  crypto::CaOptions opts;
  opts.name = std::move(ca_name);
  crypto::createCa(opts, ca_);
}

TestPki::~TestPki() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::unique_ptr<crypto::TlsContext> TestPki::makeContext(
    const std::string& name, const std::vector<std::string>& addresses,
    std::vector<crypto::CipherSuite> ciphers) {
  return make(name, addresses, std::move(ciphers), std::nullopt);
}

std::unique_ptr<crypto::TlsContext> TestPki::makeContextUntil(
    const std::string& name, const std::vector<std::string>& addresses,
    std::chrono::system_clock::time_point not_after) {
  return make(name, addresses, crypto::defaultCipherOrder(), not_after);
}

std::unique_ptr<crypto::TlsContext> TestPki::make(
    const std::string& name, const std::vector<std::string>& addresses,
    std::vector<crypto::CipherSuite> ciphers,
    std::optional<std::chrono::system_clock::time_point> not_after) {
  crypto::SignOptions opts;
  opts.name = name;
  for (const auto& a : addresses) {
    auto p = protocol::IpPrefix::parse(a);
    if (!p) {
      throw std::invalid_argument("bad test address " + a);
    }
    opts.addresses.push_back(*p);
  }
  auto out = dir_ / (name + "-" + std::to_string(serial_++));
  if (not_after) {
    auto now = std::chrono::system_clock::now();
    crypto::internal::signCertificateWithValidity(ca_, opts, out, now - std::chrono::minutes(5),
                                                  *not_after);
  } else {
    crypto::signCertificate(ca_, opts, out);
  }
  last_cert_[name] = out.string() + ".crt";
  crypto::TlsContextOptions ctx;
  ctx.ca_cert = ca_.string() + ".crt";
  ctx.cert = out.string() + ".crt";
  ctx.key = out.string() + ".key";
  ctx.ciphers = std::move(ciphers);
  return crypto::TlsContext::create(ctx);
}

std::string TestPki::fingerprintOf(const std::string& name) const {
  auto it = last_cert_.find(name);
  return it == last_cert_.end() ? std::string() : crypto::readIdentity(it->second).fingerprint;
}

}  // namespace vpn::test
