#pragma once
// RvTestPeer: a minimal hand-written peer for the rendezvous protocol, built only from the session
// pieces (session::Handshake as TLS client, DataKeys), so the rendezvous engine can be tested
// without the peer engine. Also used by bench/rendezvous_load. Header-only; single-threaded.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/byte_io.hpp"
#include "crypto/key_schedule.hpp"
#include "crypto/random.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "session/data_keys.hpp"
#include "session/datagram_sink.hpp"
#include "session/handshake.hpp"

namespace vpn::test {

class RvTestPeer {
 public:
  // hello_name: the name put in the HELLO (normally the certificate's CN; a test may lie).
  RvTestPeer(crypto::TlsContext& tls, std::string hello_name, std::string rv_name,
             protocol::Endpoint rv)
      : tls_(tls), name_(std::move(hello_name)), rv_name_(std::move(rv_name)), rv_(rv) {}

  // local_index 0 picks a random one.
  void start(Instant now, session::DatagramSink& out, std::uint32_t local_index = 0) {
    session::Handshake::Params p;
    p.role = crypto::TlsSession::Role::kClient;
    p.own_name = name_;
    p.peer_name = rv_name_;
    p.local_index = local_index != 0 ? local_index : (crypto::randomU32() | 1u);
    p.endpoint = rv_;
    hs_ = std::make_unique<session::Handshake>(tls_, std::move(p), now);
    keys_.reset();
    hs_->begin(now);
    hs_->flush(now, out);
  }

  // A datagram from the rendezvous. Returns false if it was not understood.
  bool onDatagram(Instant now, std::span<std::uint8_t> bytes, session::DatagramSink& out) {
    auto family = protocol::classify(bytes);
    if (family == protocol::PacketFamily::kCookieReply) {
      auto c = protocol::parseCookieReply(bytes);
      if (!c || !hs_ || c->receiver_index != hs_->localIndex() ||
          !hs_->setCookie(now, c->cookie)) {
        return false;
      }
      cookie_replies++;
      hs_->flush(now, out);
      return true;
    }
    if (family == protocol::PacketFamily::kHandshake) {
      auto p = protocol::parseHandshake(bytes);
      if (!p || !hs_ || p->receiver_index != hs_->localIndex()) {
        return false;
      }
      hs_->onPacket(now, *p);
      hs_->flush(now, out);
      maybeEstablish(now);
      return true;
    }
    auto h = protocol::parseSealedHeader(bytes);
    if (!h || !keys_ || h->receiver_index != local_index_) {
      return false;
    }
    auto r = keys_->open(now, *h, bytes, seconds(2));
    if (r.status != session::DataKeys::OpenStatus::kOk) {
      return false;
    }
    auto plain = std::span<const std::uint8_t>(bytes).subspan(
        protocol::kDataHeaderSize, bytes.size() - protocol::kDataOverhead);
    if (h->control) {
      auto m = protocol::parseControl(plain);
      if (!m) {
        return false;
      }
      inbox.push_back(std::move(*m));
      return true;
    }
    if (h->keepalive && plain.size() == 9 && plain[0] == 2) {
      ByteReader rd(plain.subspan(1));
      probe_replies.push_back(rd.u64());
    }
    return true;
  }

  void onTimer(Instant now, session::DatagramSink& out) {
    if (hs_) {
      hs_->flush(now, out);
      maybeEstablish(now);
    }
  }
  Instant nextDeadline() const { return hs_ ? hs_->nextDeadline() : kNever; }

  bool established() const { return keys_ != nullptr; }
  std::size_t cookie_replies = 0;
  bool failed() const { return hs_ && hs_->state() == session::Handshake::State::kFailed; }
  std::uint32_t localIndex() const { return hs_ ? hs_->localIndex() : local_index_; }
  std::uint32_t remoteIndex() const { return hs_ ? hs_->remoteIndex() : remote_index_; }
  // Frees the TLS state once the session is known to work (the load bench keeps thousands).
  void releaseHandshake() {
    if (keys_) {
      hs_.reset();
    }
  }
  const std::string& name() const { return name_; }

  bool sendControl(const protocol::ControlMessage& msg, session::DatagramSink& out) {
    std::array<std::uint8_t, protocol::kDataOverhead + protocol::kMaxControlPayload> buf{};
    std::size_t n = protocol::serializeControl(
        msg, std::span<std::uint8_t>(buf).subspan(protocol::kDataHeaderSize,
                                                  protocol::kMaxControlPayload));
    if (n == 0 || !keys_) {
      return false;
    }
    auto packet = std::span<std::uint8_t>(buf).first(protocol::kDataOverhead + n);
    if (!keys_->sealControl(remote_index_, packet, n)) {
      return false;
    }
    out.sendDatagram(rv_, packet);
    return true;
  }

  bool sendRegister(std::vector<protocol::Candidate> local, session::DatagramSink& out,
                    protocol::NatType nat = protocol::NatType::kUnknown) {
    protocol::RegisterMsg m;
    m.candidates = std::move(local);
    m.nat_type = nat;
    return sendControl(m, out);
  }

  bool sendRelayRequest(std::uint32_t request_id, std::string peer, session::DatagramSink& out) {
    return sendControl(protocol::RelayRequestMsg{request_id, std::move(peer)}, out);
  }

  bool sendLookup(std::uint32_t request_id, std::string name, session::DatagramSink& out) {
    protocol::LookupMsg m;
    m.request_id = request_id;
    m.name = std::move(name);
    return sendControl(m, out);
  }

  bool sendProbe(std::uint64_t token, session::DatagramSink& out) {
    std::array<std::uint8_t, protocol::kDataOverhead + 9> buf{};
    ByteWriter w(std::span<std::uint8_t>(buf).subspan(protocol::kDataHeaderSize, 9));
    w.u8(1);
    w.u64(token);
    if (!keys_ || !keys_->seal(true, remote_index_, buf, 9)) {
      return false;
    }
    out.sendDatagram(rv_, buf);
    return true;
  }

  bool sendData(std::span<const std::uint8_t> payload, session::DatagramSink& out) {
    std::vector<std::uint8_t> buf(protocol::kDataOverhead + payload.size());
    std::copy(payload.begin(), payload.end(), buf.begin() + protocol::kDataHeaderSize);
    if (!keys_ || !keys_->seal(false, remote_index_, buf, payload.size())) {
      return false;
    }
    out.sendDatagram(rv_, buf);
    return true;
  }

  std::vector<protocol::ControlMessage> inbox;
  std::vector<std::uint64_t> probe_replies;

 private:
  void maybeEstablish(Instant now) {
    if (keys_ || !hs_ || hs_->state() != session::Handshake::State::kEstablished) {
      return;
    }
    auto secrets = crypto::exportSessionSecrets(hs_->tls());
    if (!secrets) {
      return;
    }
    keys_ = session::DataKeys::create(hs_->tls().negotiatedCipher(), *secrets, true, now);
    local_index_ = hs_->localIndex();
    remote_index_ = hs_->remoteIndex();
  }

  crypto::TlsContext& tls_;
  std::string name_;
  std::string rv_name_;
  protocol::Endpoint rv_;
  std::unique_ptr<session::Handshake> hs_;
  std::unique_ptr<session::DataKeys> keys_;
  std::uint32_t local_index_ = 0;
  std::uint32_t remote_index_ = 0;
};

}  // namespace vpn::test
