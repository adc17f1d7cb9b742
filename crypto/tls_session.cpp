#include "crypto/tls_session.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <climits>
#include <vector>

#include "crypto/internal/tls_context_impl.hpp"

namespace vpn::crypto {
namespace {

using internal::takeOpensslError;

constexpr int kVerifyMode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;

// A fatal alert received from the peer shows up as an SSL error whose reason is offset by
// SSL_AD_REASON_OFFSET; anything else is a local failure.
bool isPeerAlert(unsigned long code) {
  return code != 0 && ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) >= SSL_AD_REASON_OFFSET;
}

int cappedInt(std::size_t n) {
  return n > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
}

class OpensslTlsSession final : public TlsSession {
 public:
  OpensslTlsSession(internal::OpensslTlsContext& ctx, Role role, std::string expected_name)
      : ctx_(ctx), role_(role), expected_name_(std::move(expected_name)) {
    ssl_.reset(SSL_new(ctx.native()));
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    if (!ssl_ || rbio == nullptr || wbio == nullptr) {
      BIO_free(rbio);
      BIO_free(wbio);
      throw CryptoError("cannot create a TLS session (" + takeOpensslError() + ")");
    }
    // An empty read BIO means "retry later", not end of stream.
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl_.get(), rbio, wbio);
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_app_data(ssl_.get(), this);
    SSL_set_verify(ssl_.get(), kVerifyMode, &OpensslTlsSession::verifyCallback);
    if (role == Role::kClient) {
      SSL_set_connect_state(ssl_.get());
    } else {
      SSL_set_accept_state(ssl_.get());
    }
  }

  void writeIncoming(std::span<const std::uint8_t> bytes) override {
    if (state_ == State::kFailed || ignore_input_) {
      return;
    }
    while (!bytes.empty()) {
      int n = BIO_write(rbio_, bytes.data(), cappedInt(bytes.size()));
      if (n <= 0) {
        fail("out of memory buffering TLS input");
        return;
      }
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
  }

  State advance() override {
    if (state_ == State::kHandshaking) {
      handshake();
    }
    if (state_ == State::kEstablished) {
      readAfterEstablished();
    }
    return state_;
  }

  State state() const override { return state_; }

  std::size_t readOutgoing(std::span<std::uint8_t> out) override {
    if (out.empty()) {
      return 0;
    }
    int n = BIO_read(wbio_, out.data(), cappedInt(out.size()));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  bool hasOutgoing() const override { return BIO_ctrl_pending(wbio_) > 0; }

  const CertIdentity& peerIdentity() const override { return peer_; }
  CipherSuite negotiatedCipher() const override { return cipher_; }

  bool exportKeyingMaterial(std::string_view label, std::span<std::uint8_t> out) override {
    if (state_ != State::kEstablished) {
      return false;
    }
    if (SSL_export_keying_material(ssl_.get(), out.data(), out.size(), label.data(),
                                   label.size(), nullptr, 0, 0) != 1) {
      takeOpensslError();
      return false;
    }
    return true;
  }

  const std::string& failureReason() const override { return reason_; }
  Role role() const override { return role_; }

 private:
  static int verifyCallback(int preverify_ok, X509_STORE_CTX* sctx) {
    auto* ssl = static_cast<SSL*>(
        X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* self = ssl != nullptr ? static_cast<OpensslTlsSession*>(SSL_get_app_data(ssl)) : nullptr;
    if (self == nullptr) {
      return 0;
    }
    try {
      return self->verify(preverify_ok, sctx);
    } catch (...) {
      self->verify_reason_ = "out of memory while verifying the peer certificate";
      return 0;
    }
  }

  int verify(int preverify_ok, X509_STORE_CTX* sctx) {
    if (preverify_ok == 0) {
      if (verify_reason_.empty()) {
        verify_reason_ = std::string("peer certificate failed verification: ") +
                         X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx));
      }
      return 0;
    }
    if (X509_STORE_CTX_get_error_depth(sctx) != 0) {
      return 1;
    }
    X509* leaf = X509_STORE_CTX_get_current_cert(sctx);
    // The CA itself verifies against the trust store; it must never act as a peer.
    if (X509_check_ca(leaf) != 0) {
      verify_reason_ = "peer certificate rejected: it is a CA certificate, not a peer certificate";
      X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
      return 0;
    }
    if (std::string fp = internal::fingerprintOf(leaf); ctx_.isBlocked(fp)) {
      verify_reason_ = "peer certificate '" + internal::subjectName(leaf) + "' (sha256 " + fp +
                       ") is on the blocklist";
      X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REVOKED);
      return 0;
    }
    if (!expected_name_.empty()) {
      std::string name = internal::subjectName(leaf);
      if (name != expected_name_) {
        verify_reason_ =
            "peer presented certificate for '" + name + "', expected '" + expected_name_ + "'";
        X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
      }
    }
    return 1;
  }

  void handshake() {
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) {
      established();
      return;
    }
    int err = SSL_get_error(ssl_.get(), ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      return;
    }
    failFromError(err, "TLS handshake failed");
  }

  void established() {
    X509* peer = SSL_get0_peer_certificate(ssl_.get());
    if (peer == nullptr) {
      fail("peer sent no certificate");
      return;
    }
    try {
      peer_ = internal::identityFromX509(peer);
    } catch (const CryptoError& e) {
      fail(std::string("peer certificate unusable: ") + e.what());
      return;
    }
    const char* name = SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl_.get()));
    std::string_view suite = name != nullptr ? name : "";
    if (suite == internal::tlsSuiteName(CipherSuite::kAes256Gcm)) {
      cipher_ = CipherSuite::kAes256Gcm;
    } else if (suite == internal::tlsSuiteName(CipherSuite::kChaCha20Poly1305)) {
      cipher_ = CipherSuite::kChaCha20Poly1305;
    } else {
      fail("negotiated an unexpected TLS cipher suite " + std::string(suite));
      return;
    }
    state_ = State::kEstablished;
  }

  // After the handshake TLS carries nothing we need, but the peer may still send a fatal alert
  // (a TLS 1.3 server checks the client certificate after the client already finished), and a
  // retransmitting control channel may hand us old flights again. Alerts fail the session;
  // anything TLS cannot parse is dropped (keys are already exported), and so is the alert
  // OpenSSL queued in reply, so the peer's session is not torn down by our duplicate.
  void readAfterEstablished() {
    while (!ignore_input_ && BIO_ctrl_pending(rbio_) > 0) {
      std::size_t queued_out = BIO_ctrl_pending(wbio_);
      std::uint8_t sink[256];
      ERR_clear_error();
      int n = SSL_read(ssl_.get(), sink, sizeof sink);
      if (n > 0) {
        continue;  // application data is not used on this channel
      }
      int err = SSL_get_error(ssl_.get(), n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return;
      }
      if (err == SSL_ERROR_ZERO_RETURN) {
        fail("peer closed the TLS session");
        return;
      }
      if (err == SSL_ERROR_SSL && isPeerAlert(ERR_peek_error())) {
        failFromError(err, "TLS session failed");
        return;
      }
      takeOpensslError();
      truncateOutgoing(queued_out);
      ignore_input_ = true;
    }
    if (ignore_input_) {
      (void)BIO_reset(rbio_);
    }
  }

  void truncateOutgoing(std::size_t keep) {
    std::size_t pending = BIO_ctrl_pending(wbio_);
    if (pending <= keep) {
      return;
    }
    std::vector<std::uint8_t> kept(keep);
    if (keep > 0 && BIO_read(wbio_, kept.data(), cappedInt(keep)) != static_cast<int>(keep)) {
      return;
    }
    (void)BIO_reset(wbio_);
    if (keep > 0) {
      BIO_write(wbio_, kept.data(), cappedInt(keep));
    }
  }

  void failFromError(int ssl_error, const std::string& context) {
    if (!verify_reason_.empty()) {
      takeOpensslError();
      fail(verify_reason_);
      return;
    }
    unsigned long code = ERR_peek_error();
    std::string detail = takeOpensslError();
    if (isPeerAlert(code)) {
      fail("peer rejected the TLS handshake (" + detail + ")");
    } else if (!detail.empty()) {
      fail(context + ": " + detail);
    } else {
      fail(context + " (SSL error " + std::to_string(ssl_error) + ")");
    }
  }

  void fail(std::string reason) {
    if (state_ != State::kFailed) {
      reason_ = std::move(reason);
      state_ = State::kFailed;
    }
  }

  internal::SslPtr ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  internal::OpensslTlsContext& ctx_;
  Role role_;
  std::string expected_name_;
  State state_ = State::kHandshaking;
  CertIdentity peer_;
  CipherSuite cipher_ = CipherSuite::kAes256Gcm;
  std::string reason_;
  std::string verify_reason_;
  bool ignore_input_ = false;
};

}  // namespace

std::unique_ptr<TlsSession> TlsSession::create(TlsContext& ctx, Role role,
                                               std::string expected_name) {
  auto* impl = dynamic_cast<internal::OpensslTlsContext*>(&ctx);
  if (impl == nullptr) {
    throw CryptoError("TlsSession::create needs a context made by TlsContext::create");
  }
  return std::make_unique<OpensslTlsSession>(*impl, role, std::move(expected_name));
}

}  // namespace vpn::crypto
