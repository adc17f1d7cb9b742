#pragma once
// Handshake: one pending TLS 1.3 handshake with one peer, carried by a ReliableChannel in
// handshake packets. It knows the indices (ours and, once learned, the peer's), the endpoint it
// talks to, and how to frame its packets (HELLO until the peer's index is known; KICK while a
// server waits for the client to start). It does not decide policy: the Engine matches packets
// to it, decides adoption and replacement, and turns an established handshake into a session.
//
// Roles: the TLS client is the peer whose name sorts first. A server created without the
// client's index is in "kick mode": it sends KICK|HELLO with backoff until the client answers.
//
// Anti-amplification: every HELLO packet (ClientHello chunks and kicks) is padded to
// protocol::kMinInitialPacket. A handshake created to answer a packet (Params::responder) sends no
// more bytes than it received until the peer's address is validated (a packet naming our index
// came back, or the owner says so: a cookie echoed, a known path), then at most 3x until it is
// established (RFC 9000 section 8.1). What the budget holds back is sent when more arrives.
// A cookie reply (setCookie) makes our HELLOs echo the cookie from then on.
//
// Ownership: owned by the Engine's per-peer state (pending, then lingering in the session to
// finish acking the last flight). The TlsContext must outlive it. Single-threaded. The constructor
// throws crypto::CryptoError only if OpenSSL cannot allocate; nothing else throws except
// std::bad_alloc.
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "base/time.hpp"
#include "session/datagram_sink.hpp"
#include "session/reliable_channel.hpp"
#include "crypto/tls_session.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/ip_address.hpp"

namespace vpn::session {

class Handshake {
 public:
  enum class State { kHandshaking, kEstablished, kFailed };

  struct Params {
    crypto::TlsSession::Role role = crypto::TlsSession::Role::kClient;
    std::string own_name;
    std::string peer_name;
    std::uint32_t local_index = 0;
    std::uint32_t remote_index = 0;  // 0 = not known yet
    protocol::Endpoint endpoint;
    Duration timeout = seconds(10);
    // We answer a packet from this endpoint rather than start on our own: the send budget applies.
    bool responder = false;
    // The endpoint already proved it receives there (a cookie, a known session path).
    bool validated = false;
    // Bytes of the packet this attempt answers when that packet is not fed to onPacket (a KICK):
    // counted as received for the budget.
    std::size_t credit = 0;
  };

  Handshake(crypto::TlsContext& tls, Params params, Instant now);

  // A client produces its ClientHello; a server without the client's index arms its kick.
  void begin(Instant now);
  // A packet the Engine matched to this handshake (by our index, or by name + the peer's index).
  void onPacket(Instant now, const protocol::HandshakePacket& packet);
  // Sends everything due now (chunks, retransmissions, acks, kicks) to the endpoint.
  void flush(Instant now, DatagramSink& sink);
  // Resend unacked chunks at the next flush (the peer poked us).
  void retransmitNow(Instant now) { channel_.retransmitNow(now); }
  // Marks the handshake failed with a reason (e.g. timeout), keeping the first reason.
  void fail(std::string reason);
  // A cookie reply for our HELLO: later HELLOs echo it (they are resent at the next flush).
  // False if we are past the HELLO stage (the reply is late or forged) and nothing changed.
  bool setCookie(Instant now, const protocol::Cookie& cookie);
  void markValidated() { validated_ = true; }
  bool validated() const { return validated_; }

  State state() const { return state_; }
  const std::string& failureReason() const { return failure_; }
  bool timedOut(Instant now) const { return state_ == State::kHandshaking && now >= deadline_; }
  // Earliest of: retransmission, kick, timeout (the timeout only while handshaking).
  Instant nextDeadline() const;
  bool kickMode() const {
    return params_.role == crypto::TlsSession::Role::kServer && params_.remote_index == 0;
  }
  bool receivedAnything() const { return received_any_; }
  // A packet with stream bytes came (not only acks): the peer's flight is arriving.
  bool receivedPayload() const { return received_payload_; }
  // Datagram bytes in and out, and how many packets the send budget held back.
  std::uint64_t bytesIn() const { return bytes_in_; }
  std::uint64_t bytesOut() const { return bytes_out_; }
  std::uint64_t heldBack() const { return held_back_; }

  std::uint32_t localIndex() const { return params_.local_index; }
  std::uint32_t remoteIndex() const { return params_.remote_index; }
  void setRemoteIndex(std::uint32_t index) { params_.remote_index = index; }
  const protocol::Endpoint& endpoint() const { return params_.endpoint; }
  void setEndpoint(const protocol::Endpoint& ep) { params_.endpoint = ep; }
  const std::string& peerName() const { return params_.peer_name; }
  bool isClient() const { return params_.role == crypto::TlsSession::Role::kClient; }
  Instant startedAt() const { return started_; }
  crypto::TlsSession& tls() { return *tls_; }
  const ReliableChannel& channel() const { return channel_; }

 private:
  void pumpTls();
  void sendOne(DatagramSink& sink, std::uint8_t flags, const ReliableChannel::Outgoing* out);
  bool budgetAllows(std::size_t n) const;

  Params params_;
  std::unique_ptr<crypto::TlsSession> tls_;
  ReliableChannel channel_;
  State state_ = State::kHandshaking;
  std::string failure_;
  Instant started_;
  Instant deadline_;
  Instant kick_at_ = kNever;
  Duration kick_backoff_ = milliseconds(300);
  bool received_any_ = false;
  bool received_payload_ = false;
  bool validated_ = false;
  bool held_ = false;  // the budget held a packet back since the last arrival
  bool has_cookie_ = false;
  protocol::Cookie cookie_{};
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::uint64_t held_back_ = 0;
  std::array<std::uint8_t, protocol::kMaxHandshakePacket> scratch_{};
};

}  // namespace vpn::session
