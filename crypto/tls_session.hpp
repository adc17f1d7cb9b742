#pragma once
// TlsSession: one TLS 1.3 handshake with mutual certificate authentication over memory buffers.
// It never sees a socket: the caller moves ciphertext bytes in and out, carrying them over its own
// reliable control channel. TLS session tickets and 0-RTT are off; only TLS 1.3 is accepted.
//
// Verification: the peer's leaf must be signed directly by the context's CA, be valid now, and not
// be a CA itself. If expected_name is not empty, the peer's CN must equal it. After establishment,
// peerIdentity() gives the verified name and certified addresses. Any failure moves the session
// to kFailed with failureReason(); readOutgoing() may then still return an alert for the peer.
//
// After establishment, keep feeding incoming bytes and calling advance(): in TLS 1.3 a client
// finishes before the server has checked the client certificate, so a rejection arrives later as
// an alert, which moves the session to kFailed. Bytes TLS cannot parse any more (e.g. a
// retransmitted handshake flight) are dropped silently and the session stays established.
//
// Ownership: created from a TlsContext that must outlive it. Not thread-safe. Never throws after
// create(); create() throws CryptoError only if OpenSSL cannot allocate.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "crypto/aead.hpp"
#include "crypto/certificate.hpp"
#include "crypto/tls_context.hpp"

namespace vpn::crypto {

class TlsSession {
 public:
  enum class Role { kClient, kServer };
  enum class State { kHandshaking, kEstablished, kFailed };

  static std::unique_ptr<TlsSession> create(TlsContext& ctx, Role role, std::string expected_name);
  virtual ~TlsSession() = default;

  // Bytes received from the peer, in stream order. Call advance() afterwards.
  virtual void writeIncoming(std::span<const std::uint8_t> bytes) = 0;
  // Drives the handshake as far as the input allows; a client's first call produces ClientHello.
  virtual State advance() = 0;
  virtual State state() const = 0;
  // Bytes to send to the peer, in stream order. Returns how many were copied into out (0 = none).
  virtual std::size_t readOutgoing(std::span<std::uint8_t> out) = 0;
  virtual bool hasOutgoing() const = 0;

  // Valid once established.
  virtual const CertIdentity& peerIdentity() const = 0;
  virtual CipherSuite negotiatedCipher() const = 0;
  // RFC 8446 exporter (SSL_export_keying_material); false if not established.
  virtual bool exportKeyingMaterial(std::string_view label, std::span<std::uint8_t> out) = 0;
  virtual const std::string& failureReason() const = 0;
  virtual Role role() const = 0;
};

}  // namespace vpn::crypto
