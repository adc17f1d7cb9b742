#include "crypto/tls_stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <climits>
#include <vector>

#include "base/log.hpp"
#include "crypto/internal/openssl_util.hpp"

namespace vpn::crypto {
namespace {

using internal::takeOpensslError;

// ALPN wire format: one length-prefixed protocol name.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int cappedInt(std::size_t n) {
  return n > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
}

bool isPeerAlert(unsigned long code) {
  return code != 0 && ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) >= SSL_AD_REASON_OFFSET;
}

internal::SslCtxPtr newContext(const SSL_METHOD* method) {
  internal::SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) {
    throw CryptoError("cannot create a TLS context (" + takeOpensslError() + ")");
  }
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
    throw CryptoError("cannot restrict the TLS context to TLS 1.3 (" + takeOpensslError() + ")");
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Idle connections give their record buffers back; a rendezvous may hold many of them.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof kAlpnHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // a client without http/1.1 is still served
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

struct TlsStreamContext::Impl {
  internal::SslCtxPtr ctx;
  bool server = false;
  std::string server_name;
};

TlsStreamContext::TlsStreamContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsStreamContext::~TlsStreamContext() = default;
TlsStreamContext::TlsStreamContext(TlsStreamContext&&) noexcept = default;
TlsStreamContext& TlsStreamContext::operator=(TlsStreamContext&&) noexcept = default;

bool TlsStreamContext::isServer() const { return impl_->server; }
const std::string& TlsStreamContext::serverName() const { return impl_->server_name; }

TlsStreamContext TlsStreamContext::server(const std::filesystem::path& cert_pem,
                                          const std::filesystem::path& key_pem) {
  // Parse both files first for errors a user can act on; OpenSSL's own messages are cryptic.
  internal::X509Ptr leaf = internal::loadCertificate(cert_pem, "TLS certificate");
  internal::PkeyPtr key = internal::loadPrivateKey(key_pem, "TLS private key");
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    takeOpensslError();
    throw CryptoError("TLS private key " + key_pem.string() + " does not match TLS certificate " +
                      cert_pem.string() + "; pass the key written together with that certificate");
  }
  auto impl = std::make_unique<Impl>();
  impl->server = true;
  impl->ctx = newContext(TLS_server_method());
  SSL_CTX* ctx = impl->ctx.get();
  // The chain file form also sends any intermediates that follow the leaf in cert_pem.
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_pem.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    throw CryptoError("cannot use TLS certificate " + cert_pem.string() + " with key " +
                      key_pem.string() + " (" + takeOpensslError() + ")");
  }
  SSL_CTX_set_alpn_select_cb(ctx, &selectAlpn, nullptr);
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) <= 0) {
    // Clients do not check it (see the header), but a middlebox that inspects it might.
    LOG_WARN("TLS certificate %s has expired; TCP clients still connect, but renew it",
             cert_pem.c_str());
  }
  return TlsStreamContext(std::move(impl));
}

TlsStreamContext TlsStreamContext::client(const std::string& server_name) {
  auto impl = std::make_unique<Impl>();
  impl->server = false;
  impl->server_name = server_name;
  impl->ctx = newContext(TLS_client_method());
  // No verification: the outer TLS is camouflage; the inner session authenticates (header).
  SSL_CTX_set_verify(impl->ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_set_alpn_protos(impl->ctx.get(), kAlpnHttp11, sizeof kAlpnHttp11) != 0) {
    throw CryptoError("cannot set TLS ALPN (" + takeOpensslError() + ")");
  }
  return TlsStreamContext(std::move(impl));
}

struct TlsStream::Impl {
  internal::SslPtr ssl;
  BIO* rbio = nullptr;  // owned by ssl
  BIO* wbio = nullptr;  // owned by ssl
  bool server = false;
  bool shut_down = false;
  State state = State::kHandshaking;
  std::string reason;
  std::vector<std::uint8_t> pending;  // plaintext written before the handshake finished

  void fail(std::string why) {
    if (state != State::kFailed) {
      state = State::kFailed;
      reason = std::move(why);
    }
  }

  void failFromError(int ssl_error, const char* context) {
    unsigned long code = ERR_peek_error();
    std::string detail = takeOpensslError();
    if (isPeerAlert(code)) {
      fail("the peer sent a fatal alert (" + detail + ")");
    } else if (!detail.empty()) {
      fail(std::string(context) + " (" + detail + ")");
    } else {
      fail(std::string(context) + " (SSL error " + std::to_string(ssl_error) + ")");
    }
  }

  bool write(std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
      ERR_clear_error();
      int n = SSL_write(ssl.get(), bytes.data(), cappedInt(bytes.size()));
      if (n <= 0) {
        failFromError(SSL_get_error(ssl.get(), n), "cannot encrypt");
        return false;
      }
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return true;
  }

  void advance() {
    if (state != State::kHandshaking) {
      return;
    }
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl.get());
    if (ret == 1) {
      state = State::kEstablished;
      if (!pending.empty()) {
        std::vector<std::uint8_t> held;
        held.swap(pending);
        write(held);
      }
      return;
    }
    int err = SSL_get_error(ssl.get(), ret);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      failFromError(err, "TLS handshake failed");
    }
  }
};

TlsStream::TlsStream(TlsStreamContext& ctx) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.server = ctx.isServer();
  s.ssl.reset(SSL_new(ctx.impl_->ctx.get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (!s.ssl || rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    throw CryptoError("cannot create a TLS stream (" + takeOpensslError() + ")");
  }
  BIO_set_mem_eof_return(rbio, -1);  // an empty input buffer means "more later", not EOF
  SSL_set_bio(s.ssl.get(), rbio, wbio);
  s.rbio = rbio;
  s.wbio = wbio;
  if (s.server) {
    SSL_set_accept_state(s.ssl.get());
    return;
  }
  SSL_set_connect_state(s.ssl.get());
  const std::string& sni = ctx.serverName();
  if (!sni.empty() && SSL_set_tlsext_host_name(s.ssl.get(), sni.c_str()) != 1) {
    throw CryptoError("cannot use '" + sni + "' as the TLS server name (" + takeOpensslError() +
                      ")");
  }
  s.advance();  // ClientHello
}

TlsStream::~TlsStream() = default;
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;

void TlsStream::feedCiphertext(std::span<const std::uint8_t> bytes) {
  Impl& s = *impl_;
  if (s.state == State::kFailed || s.state == State::kClosed) {
    return;
  }
  while (!bytes.empty()) {
    int n = BIO_write(s.rbio, bytes.data(), cappedInt(bytes.size()));
    if (n <= 0) {
      s.fail("out of memory buffering TLS input");
      return;
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

TlsStream::State TlsStream::advance() {
  impl_->advance();
  return impl_->state;
}

std::size_t TlsStream::readPlaintext(std::span<std::uint8_t> out) {
  Impl& s = *impl_;
  s.advance();
  if (s.state != State::kEstablished || out.empty()) {
    return 0;
  }
  ERR_clear_error();
  int n = SSL_read(s.ssl.get(), out.data(), cappedInt(out.size()));
  if (n > 0) {
    return static_cast<std::size_t>(n);
  }
  int err = SSL_get_error(s.ssl.get(), n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    return 0;
  }
  if (err == SSL_ERROR_ZERO_RETURN) {
    s.state = State::kClosed;
    return 0;
  }
  s.failFromError(err, "cannot decrypt");
  return 0;
}

bool TlsStream::writePlaintext(std::span<const std::uint8_t> bytes) {
  Impl& s = *impl_;
  if (s.state == State::kFailed || s.state == State::kClosed || s.shut_down) {
    return false;
  }
  if (bytes.empty()) {
    return true;
  }
  if (s.state == State::kHandshaking) {
    s.pending.insert(s.pending.end(), bytes.begin(), bytes.end());
    return true;
  }
  return s.write(bytes);
}

std::size_t TlsStream::drainCiphertext(std::span<std::uint8_t> out) {
  if (out.empty()) {
    return 0;
  }
  int n = BIO_read(impl_->wbio, out.data(), cappedInt(out.size()));
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::size_t TlsStream::pendingCiphertext() const { return BIO_ctrl_pending(impl_->wbio); }
std::size_t TlsStream::pendingPlaintext() const { return impl_->pending.size(); }

void TlsStream::shutdown() {
  Impl& s = *impl_;
  if (s.shut_down) {
    return;
  }
  s.shut_down = true;
  s.pending.clear();
  if (s.state == State::kEstablished || s.state == State::kClosed) {
    ERR_clear_error();
    (void)SSL_shutdown(s.ssl.get());  // queues close_notify; the peer's reply is not awaited
    takeOpensslError();
  }
}

TlsStream::State TlsStream::state() const { return impl_->state; }
const std::string& TlsStream::failureReason() const { return impl_->reason; }
bool TlsStream::isServer() const { return impl_->server; }

std::string TlsStream::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(impl_->ssl.get(), &data, &len);
  return data != nullptr ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

std::string TlsStream::serverName() const {
  const char* name = SSL_get_servername(impl_->ssl.get(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string(name) : std::string();
}

}  // namespace vpn::crypto
