#include "crypto/credential_reload.hpp"

#include <unistd.h>

namespace vpn::crypto {

bool CredentialReload::changed(const TlsContextOptions& fresh) const {
  return fresh.ca_cert != files_.ca_cert || fresh.cert != files_.cert || fresh.key != files_.key ||
         fresh.ciphers != files_.ciphers ||
         os::stampOf(fresh.ca_cert) != ca_ || os::stampOf(fresh.cert) != cert_ ||
         os::stampOf(fresh.key) != key_;
}

std::unique_ptr<TlsContext> CredentialReload::load(const TlsContextOptions& fresh,
                                                   const TlsContext& running) const {
  std::unique_ptr<TlsContext> ctx;
  try {
    ctx = TlsContext::create(fresh);
  } catch (const CryptoError& e) {
    if (::geteuid() != 0) {
      // The usual cause once root is gone: a renewed key only root may read.
      throw CryptoError(std::string(e.what()) +
                        " (the daemon no longer runs as root: the files must be readable by its "
                        "user, or restart it)");
    }
    throw;
  }
  if (ctx->caIdentity().fingerprint != running.caIdentity().fingerprint) {
    throw CryptoError("CA certificate " + fresh.ca_cert.string() +
                      " is not the CA this process started with; a new CA needs a restart");
  }
  if (ctx->identity().name != running.identity().name) {
    throw CryptoError("certificate " + fresh.cert.string() + " is for '" + ctx->identity().name +
                      "', not '" + running.identity().name + "'; a new name needs a restart");
  }
  return ctx;
}

void CredentialReload::remember(const TlsContextOptions& now_in_use) {
  files_ = now_in_use;
  ca_ = os::stampOf(now_in_use.ca_cert);
  cert_ = os::stampOf(now_in_use.cert);
  key_ = os::stampOf(now_in_use.key);
}

}  // namespace vpn::crypto
