#include "crypto/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/log.hpp"
#include "crypto/internal/tls_context_impl.hpp"

namespace vpn::crypto {
namespace {

using internal::formatUtc;
using internal::takeOpensslError;
using Clock = std::chrono::system_clock;

std::string day(Clock::time_point t) { return formatUtc(t).substr(0, 10); }

CertIdentity identityOf(X509* cert, const std::filesystem::path& path) {
  try {
    return internal::identityFromX509(cert);
  } catch (const CryptoError& e) {
    throw CryptoError(path.string() + ": " + e.what());
  }
}

void checkValidity(const CertIdentity& id, const std::string& what,
                   const std::filesystem::path& path, Clock::time_point now) {
  if (now < id.not_before) {
    throw CryptoError(what + " " + path.string() + " is not valid until " +
                      formatUtc(id.not_before) + "; check the system clock");
  }
  if (now >= id.not_after) {
    throw CryptoError(what + " " + path.string() + " expired on " + formatUtc(id.not_after) +
                      "; renew it with `vpnpeer cert sign`");
  }
}

void verifyIssuedBy(X509_STORE* store, X509* cert, const TlsContextOptions& opts) {
  internal::StoreCtxPtr sctx(X509_STORE_CTX_new());
  if (!sctx || X509_STORE_CTX_init(sctx.get(), store, cert, nullptr) != 1) {
    throw CryptoError("out of memory while verifying " + opts.cert.string());
  }
  if (X509_verify_cert(sctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(sctx.get());
    takeOpensslError();
    throw CryptoError("certificate " + opts.cert.string() + " does not verify against CA " +
                      opts.ca_cert.string() + " (" + X509_verify_cert_error_string(err) +
                      "); sign it with this network's CA");
  }
}

std::string suiteList(const std::vector<CipherSuite>& ciphers) {
  std::string list;
  for (CipherSuite c : ciphers) {
    std::string name = internal::tlsSuiteName(c);
    if (list.find(name) != std::string::npos) {
      continue;
    }
    list += list.empty() ? name : ":" + name;
  }
  return list;
}

void warnIfExpiringSoon(const CertIdentity& id, const CertIdentity& ca_id,
                        const TlsContextOptions& opts, Clock::time_point now) {
  for (const auto& w : {expiryWarning(id, "certificate " + opts.cert.string(), opts.expiry_warning, now),
                        expiryWarning(ca_id, "CA certificate " + opts.ca_cert.string(),
                                      opts.expiry_warning, now)}) {
    if (!w.empty()) {
      LOG_WARN("%s", w.c_str());
    }
  }
}

}  // namespace

std::string expiryWarning(const CertIdentity& id, std::string_view what, std::chrono::hours window,
                          std::chrono::system_clock::time_point now) {
  if (id.not_after - now >= window) {
    return {};
  }
  auto days = std::chrono::floor<std::chrono::days>(id.not_after - now).count();
  std::string fix = id.issuer == id.name
                        ? "make a new CA and re-issue every certificate with it"
                        : "renew it with `vpnpeer cert sign`";
  if (id.not_after <= now) {
    return std::string(what) + " expired on " + day(id.not_after) + "; " + fix;
  }
  return std::string(what) + " expires in " + std::to_string(days) + " days (" +
         day(id.not_after) + "); " + fix;
}

std::string formatUtc(std::chrono::system_clock::time_point t) { return internal::formatUtc(t); }

namespace internal {

const char* tlsSuiteName(CipherSuite suite) {
  return suite == CipherSuite::kAes256Gcm ? "TLS_AES_256_GCM_SHA384"
                                          : "TLS_CHACHA20_POLY1305_SHA256";
}

}  // namespace internal

std::unique_ptr<TlsContext> TlsContext::create(const TlsContextOptions& opts) {
  if (opts.ciphers.empty()) {
    throw CryptoError("no data ciphers configured; allow aes-256-gcm or chacha20-poly1305");
  }
  internal::X509Ptr ca = internal::loadCertificate(opts.ca_cert, "CA certificate");
  internal::X509Ptr cert = internal::loadCertificate(opts.cert, "certificate");
  internal::PkeyPtr key = internal::loadPrivateKey(opts.key, "private key");

  if (X509_check_ca(ca.get()) == 0) {
    throw CryptoError("CA certificate " + opts.ca_cert.string() +
                      " is not a CA certificate; pass the network CA's .crt file");
  }
  if (X509_check_ca(cert.get()) != 0) {
    throw CryptoError("certificate " + opts.cert.string() +
                      " is a CA certificate; use a peer certificate made by `vpnpeer cert sign`");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    takeOpensslError();
    throw CryptoError("private key " + opts.key.string() + " does not match certificate " +
                      opts.cert.string() + "; pass the .key written together with that .crt");
  }
  auto now = Clock::now();
  CertIdentity ca_id = identityOf(ca.get(), opts.ca_cert);
  checkValidity(ca_id, "CA certificate", opts.ca_cert, now);
  CertIdentity id = identityOf(cert.get(), opts.cert);
  checkValidity(id, "certificate", opts.cert, now);

  internal::SslCtxPtr ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) {
    throw CryptoError("cannot create a TLS context (" + takeOpensslError() + ")");
  }
  // SSL_CTX_new starts with an empty store; the network CA is the only trust anchor.
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  if (X509_STORE_add_cert(store, ca.get()) != 1) {
    throw CryptoError("cannot use CA certificate " + opts.ca_cert.string() + " (" +
                      takeOpensslError() + ")");
  }
  verifyIssuedBy(store, cert.get(), opts);

  std::string suites = suiteList(opts.ciphers);
  bool ok = SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_ciphersuites(ctx.get(), suites.c_str()) == 1 &&
            SSL_CTX_set_num_tickets(ctx.get(), 0) == 1 &&
            SSL_CTX_set_max_early_data(ctx.get(), 0) == 1 &&
            SSL_CTX_use_certificate(ctx.get(), cert.get()) == 1 &&
            SSL_CTX_use_PrivateKey(ctx.get(), key.get()) == 1 &&
            SSL_CTX_check_private_key(ctx.get()) == 1;
  if (!ok) {
    throw CryptoError("cannot configure TLS with " + opts.cert.string() + " (" +
                      takeOpensslError() + ")");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Peers present only their leaf, signed directly by the network CA that both sides hold:
  // no intermediates, and no CA certificate on the wire.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_NO_AUTO_CHAIN);
  SSL_CTX_set_verify_depth(ctx.get(), 0);

  warnIfExpiringSoon(id, ca_id, opts, now);
  return std::make_unique<internal::OpensslTlsContext>(std::move(ctx), std::move(id),
                                                       std::move(ca_id));
}

}  // namespace vpn::crypto
