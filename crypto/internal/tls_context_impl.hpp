#pragma once
// Private to crypto/: the concrete TlsContext, so tls_session.cpp can reach the SSL_CTX.
#include <set>
#include <string>
#include <vector>

#include "crypto/internal/openssl_util.hpp"
#include "crypto/tls_context.hpp"

namespace vpn::crypto::internal {

class OpensslTlsContext final : public TlsContext {
 public:
  OpensslTlsContext(SslCtxPtr ctx, CertIdentity identity, CertIdentity ca_identity)
      : ctx_(std::move(ctx)), identity_(std::move(identity)), ca_(std::move(ca_identity)) {}

  const CertIdentity& identity() const override { return identity_; }
  const CertIdentity& caIdentity() const override { return ca_; }
  SSL_CTX* native() const { return ctx_.get(); }
  void setBlocklist(std::vector<std::string> fingerprints) override {
    blocklist_ = std::set<std::string>(fingerprints.begin(), fingerprints.end());
  }
  bool isBlocked(const std::string& fingerprint) const override {
    return blocklist_.count(fingerprint) != 0;
  }
  void adopt(std::unique_ptr<TlsContext> fresh) override {
    auto& other = dynamic_cast<OpensslTlsContext&>(*fresh);
    ctx_ = std::move(other.ctx_);
    identity_ = std::move(other.identity_);
    ca_ = std::move(other.ca_);
  }

 private:
  SslCtxPtr ctx_;
  CertIdentity identity_;
  CertIdentity ca_;
  std::set<std::string> blocklist_;
};

// Name of the TLS 1.3 suite that carries `suite` ("TLS_AES_256_GCM_SHA384").
const char* tlsSuiteName(CipherSuite suite);

}  // namespace vpn::crypto::internal
