#pragma once
// Private to crypto/: the concrete TlsContext, so tls_session.cpp can reach the SSL_CTX.
#include <string>

#include "crypto/internal/openssl_util.hpp"
#include "crypto/tls_context.hpp"

namespace vpn::crypto::internal {

class OpensslTlsContext final : public TlsContext {
 public:
  OpensslTlsContext(SslCtxPtr ctx, CertIdentity identity)
      : ctx_(std::move(ctx)), identity_(std::move(identity)) {}

  const CertIdentity& identity() const override { return identity_; }
  SSL_CTX* native() const { return ctx_.get(); }

 private:
  SslCtxPtr ctx_;
  CertIdentity identity_;
};

// Name of the TLS 1.3 suite that carries `suite` ("TLS_AES_256_GCM_SHA384").
const char* tlsSuiteName(CipherSuite suite);

}  // namespace vpn::crypto::internal
