#pragma once
// TlsStream: TLS 1.3 over a byte stream, through memory buffers (it never sees a socket). It is
// the outer wrapper of a TCP connection to a rendezvous or a peer, so that the connection looks
// like HTTPS to middleboxes (ALPN "http/1.1", SNI if a name is given).
//
// Trust: the client does NOT verify the server's certificate, by design. The outer TLS is
// camouflage only; the vpnpeer session carried inside authenticates both sides with the network's
// CA and encrypts end to end, so a man in the middle of the outer TLS learns nothing and can
// forge nothing. Do not use TlsStream where the outer TLS is the only protection.
//
// Use: feed ciphertext from the network in with feedCiphertext(); call readPlaintext() (which
// also drives the handshake) until it returns 0; send drainCiphertext() to the network after every
// call. writePlaintext() may be called before the handshake completes: the bytes are held and
// encrypted once it does. A client's first flight is ready right after construction.
//
// Ownership: a TlsStream is created from a TlsStreamContext that must outlive it. Both are
// move-only (a moved-from object may only be destroyed or assigned); no OpenSSL type appears here.
// Threading: not thread-safe; one loop thread. Errors: TlsStreamContext::server() throws
// CryptoError with one clear sentence (unreadable or malformed certificate or key, key not matching
// the certificate). After construction nothing throws (except std::bad_alloc): failures move the
// stream to kFailed with failureReason().
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "crypto/certificate.hpp"  // CryptoError

namespace vpn::crypto {

class TlsStreamContext {
 public:
  // A server presenting cert_pem (the leaf, optionally followed by its chain) and key_pem.
  static TlsStreamContext server(const std::filesystem::path& cert_pem,
                                 const std::filesystem::path& key_pem);
  // A client that accepts any server certificate (see "Trust" above). server_name, if not empty,
  // is sent as SNI.
  static TlsStreamContext client(const std::string& server_name = {});

  ~TlsStreamContext();
  TlsStreamContext(TlsStreamContext&&) noexcept;
  TlsStreamContext& operator=(TlsStreamContext&&) noexcept;
  TlsStreamContext(const TlsStreamContext&) = delete;
  TlsStreamContext& operator=(const TlsStreamContext&) = delete;

  bool isServer() const;
  const std::string& serverName() const;

 private:
  struct Impl;
  explicit TlsStreamContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class TlsStream;
};

class TlsStream {
 public:
  enum class State {
    kHandshaking,
    kEstablished,
    kClosed,  // the peer sent close_notify; nothing more will be read
    kFailed,  // see failureReason()
  };

  // Role (client or server) comes from the context. Throws CryptoError only if OpenSSL cannot
  // allocate.
  explicit TlsStream(TlsStreamContext& ctx);
  ~TlsStream();
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext received from the peer, in stream order. Ignored once failed or closed.
  void feedCiphertext(std::span<const std::uint8_t> bytes);
  // Drives the handshake as far as the fed bytes allow; returns the state.
  State advance();
  // Advances, then decrypts up to out.size() bytes. 0 means nothing more for now (check state()).
  std::size_t readPlaintext(std::span<std::uint8_t> out);
  // Encrypts bytes (held until the handshake completes). False if failed or closed.
  bool writePlaintext(std::span<const std::uint8_t> bytes);
  // Copies up to out.size() bytes of ciphertext to send; returns the count (0 = none).
  std::size_t drainCiphertext(std::span<std::uint8_t> out);
  std::size_t pendingCiphertext() const;
  // Plaintext written before the handshake completed, not yet encrypted.
  std::size_t pendingPlaintext() const;
  // Queues a close_notify alert (drain it and send it). Idempotent.
  void shutdown();

  State state() const;
  bool established() const { return state() == State::kEstablished; }
  const std::string& failureReason() const;
  bool isServer() const;
  // The ALPN protocol agreed on ("http/1.1"), or "" if none.
  std::string alpn() const;
  // SNI: the name a client sends, or the name a server received ("" if none).
  std::string serverName() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::crypto
