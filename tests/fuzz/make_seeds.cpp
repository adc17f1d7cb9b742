// fuzz_make_seeds DIR: writes seed inputs for every fuzz target under DIR/<target>/seed-*, made
// with our own serializers so the fuzzers start from well-formed messages. Run by hand when a
// wire format changes; the output is committed (tests/fuzz/corpus/).
#include <linux/if_addr.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/certificate.hpp"
#include "protocol/data_packet.hpp"
#include "protocol/handshake_packet.hpp"
#include "protocol/punch_packet.hpp"
#include "protocol/relay_packet.hpp"
#include "protocol/rendezvous_messages.hpp"
#include "protocol/stun.hpp"

namespace {

using namespace vpn;
using Bytes = std::vector<std::uint8_t>;
namespace fs = std::filesystem;

fs::path g_root;

void write(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(g_root / target);
  std::ofstream(g_root / target / ("seed-" + name), std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void writeText(const std::string& target, const std::string& name, const std::string& s) {
  write(target, name, Bytes(s.begin(), s.end()));
}

Bytes handshake(std::uint8_t flags, std::uint32_t packet_id, std::size_t payload,
                std::vector<std::uint32_t> acks = {}, bool cookie = false) {
  Bytes tls(payload, 0x16);
  protocol::HandshakePacket p;
  p.flags = flags;
  p.sender_index = 0x11223344;
  p.receiver_index = (flags & protocol::kFlagHello) ? 0 : 0x55667788;
  p.packet_id = packet_id;
  if (payload > 0) {
    p.flags |= protocol::kFlagPayload;
    p.payload = tls;
  }
  if (flags & protocol::kFlagHello) {
    p.name = "alice";
    p.flags |= protocol::kFlagPadded;
    p.wire_size = protocol::kMinInitialPacket;
  }
  protocol::Cookie c{};
  c.fill(0xC0);
  if (cookie) {
    p.flags |= protocol::kFlagCookie;
    p.cookie = c;
  }
  Bytes out(protocol::kMaxHandshakePacket);
  out.resize(protocol::serializeHandshake(p, acks, out));
  return out;
}

Bytes cookieReply() {
  protocol::CookieReply r;
  r.receiver_index = 0x11223344;
  r.cookie.fill(0xC0);
  Bytes out(protocol::kCookieReplySize);
  protocol::serializeCookieReply(r, out);
  return out;
}

Bytes dataPacket(bool keepalive, std::size_t inner) {
  protocol::DataHeader h;
  h.keepalive = keepalive;
  h.receiver_index = 0x55667788;
  h.counter = 7;
  Bytes out(protocol::kDataHeaderSize + inner + protocol::kAeadTagSize, 0x45);
  protocol::writeDataHeader(h, out);
  return out;
}

Bytes ipv4Packet() {
  Bytes p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  p[9] = 17;
  p[12] = 10, p[13] = 42, p[14] = 0, p[15] = 1;
  p[16] = 10, p[17] = 42, p[18] = 0, p[19] = 2;
  return p;
}

// Adds big-endian 16-bit words to `sum`; putChecksum folds, complements and writes it.
std::uint32_t addWords(const std::uint8_t* p, std::size_t n, std::uint32_t sum) {
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  }
  return sum;
}
void putChecksum(std::uint8_t* at, std::uint32_t sum) {
  while (sum >> 16) {
    sum = (sum & 0xFFFF) + (sum >> 16);
  }
  at[0] = static_cast<std::uint8_t>(~sum >> 8);
  at[1] = static_cast<std::uint8_t>(~sum);
}

// inner_mtu seeds: the MTU (16 bits) and an inner packet: a TCP SYN with MSS 1360 (valid
// checksums) or a 1400-byte UDP packet with DF.
Bytes innerMtuSeed(bool v6, bool syn) {
  const std::size_t ip = v6 ? 40 : 20;
  const std::size_t total = syn ? ip + 24 : 1400;
  Bytes p = {0x04, 0xCC};  // MTU 1228
  Bytes q(total, 0);
  if (v6) {
    q[0] = 0x60;
    q[4] = static_cast<std::uint8_t>((total - 40) >> 8);
    q[5] = static_cast<std::uint8_t>(total - 40);
    q[6] = syn ? 6 : 17;
    q[7] = 64;
    q[8] = 0xfd, q[23] = 1, q[24] = 0xfd, q[39] = 2;
  } else {
    q[0] = 0x45;
    q[2] = static_cast<std::uint8_t>(total >> 8);
    q[3] = static_cast<std::uint8_t>(total);
    q[6] = 0x40;  // DF
    q[8] = 64;
    q[9] = syn ? 6 : 17;
    q[12] = 10, q[13] = 42, q[15] = 1, q[16] = 10, q[17] = 42, q[19] = 2;
    putChecksum(&q[10], addWords(q.data(), 20, 0));
  }
  if (syn) {
    std::uint8_t* t = &q[ip];
    t[0] = 0x9c, t[1] = 0x40, t[3] = 22;
    t[12] = 6 << 4;
    t[13] = 0x02;
    t[20] = 2, t[21] = 4, t[22] = 0x05, t[23] = 0x50;  // MSS 1360
    // Checksum: pseudo-header (addresses, protocol, length) and segment.
    const std::size_t at = v6 ? 8 : 12, alen = v6 ? 32 : 8;
    putChecksum(&t[16], addWords(t, 24, addWords(&q[at], alen, 6 + 24)));
  }
  p.insert(p.end(), q.begin(), q.end());
  return p;
}

// A TUN read with a virtio header: a TCP super-packet of `payload` bytes to cut at `gso`
// (checksums left for the splitter: the TCP one holds zero, which a partial one may).
// A UDP super-packet as a TUN device with TUN_F_USO4/6 hands it over (checksum left at 0:
// the splitter computes each datagram's own).
Bytes usoRead(bool v6, std::size_t payload, std::uint16_t gso) {
  const std::size_t ip = v6 ? 40 : 20;
  const std::size_t total = ip + 8 + payload;
  Bytes p(10 + total, 0);
  p[0] = 1;  // NEEDS_CSUM
  p[1] = 5;  // GSO UDP_L4
  const std::uint16_t hdr_len = static_cast<std::uint16_t>(ip + 8);
  std::memcpy(&p[2], &hdr_len, 2);
  std::memcpy(&p[4], &gso, 2);
  const std::uint16_t start = static_cast<std::uint16_t>(ip), offset = 6;
  std::memcpy(&p[6], &start, 2);
  std::memcpy(&p[8], &offset, 2);
  std::uint8_t* q = &p[10];
  if (v6) {
    q[0] = 0x60;
    q[4] = static_cast<std::uint8_t>((total - 40) >> 8);
    q[5] = static_cast<std::uint8_t>(total - 40);
    q[6] = 17;
    q[7] = 64;
    q[8] = 0xfd, q[23] = 1, q[24] = 0xfd, q[39] = 2;
  } else {
    q[0] = 0x45;
    q[2] = static_cast<std::uint8_t>(total >> 8);
    q[3] = static_cast<std::uint8_t>(total);
    q[8] = 64;
    q[9] = 17;
    q[12] = 10, q[13] = 42, q[15] = 1, q[16] = 10, q[17] = 42, q[19] = 2;
  }
  std::uint8_t* u = q + ip;
  u[1] = 80, u[3] = 81;
  u[4] = static_cast<std::uint8_t>((8 + payload) >> 8);
  u[5] = static_cast<std::uint8_t>(8 + payload);
  for (std::size_t i = 0; i < payload; ++i) {
    u[8 + i] = static_cast<std::uint8_t>(i * 5 + 1);
  }
  return p;
}

Bytes tsoRead(bool v6, std::size_t payload, std::uint16_t gso, std::uint8_t gso_type) {
  const std::size_t ip = v6 ? 40 : 20;
  Bytes p(10 + ip + 20 + payload, 0);
  p[0] = 1;  // NEEDS_CSUM
  p[1] = gso_type;
  const std::uint16_t hdr_len = static_cast<std::uint16_t>(ip + 20);
  std::memcpy(&p[2], &hdr_len, 2);
  std::memcpy(&p[4], &gso, 2);
  const std::uint16_t start = static_cast<std::uint16_t>(ip), offset = 16;
  std::memcpy(&p[6], &start, 2);
  std::memcpy(&p[8], &offset, 2);
  std::uint8_t* q = &p[10];
  const std::size_t total = ip + 20 + payload;
  if (v6) {
    q[0] = 0x60;
    q[4] = static_cast<std::uint8_t>((total - 40) >> 8);
    q[5] = static_cast<std::uint8_t>(total - 40);
    q[6] = 6;
    q[7] = 64;
    q[8] = 0xfd, q[23] = 1, q[24] = 0xfd, q[39] = 2;
  } else {
    q[0] = 0x45;
    q[2] = static_cast<std::uint8_t>(total >> 8);
    q[3] = static_cast<std::uint8_t>(total);
    q[8] = 64;
    q[9] = 6;
    q[12] = 10, q[13] = 42, q[15] = 1, q[16] = 10, q[17] = 42, q[19] = 2;
  }
  std::uint8_t* t = q + ip;
  t[1] = 80, t[3] = 81, t[7] = 1;  // ports, sequence 1
  t[12] = 0x50;
  t[13] = 0x18;  // ACK|PSH
  t[14] = 0xff;
  for (std::size_t i = 0; i < payload; ++i) {
    t[20 + i] = static_cast<std::uint8_t>(i * 3);
  }
  return p;
}

Bytes probe(bool reply) {
  protocol::ProbePacket p;
  p.reply = reply;
  p.intro_id = 99;
  p.sequence = 3;
  std::array<std::uint8_t, protocol::kProbeSize> out{};
  protocol::writeProbe(p, out);
  return Bytes(out.begin(), out.end());
}

Bytes control(const protocol::ControlMessage& m) {
  Bytes out(protocol::kMaxControlPayload);
  out.resize(protocol::serializeControl(m, out));
  return out;
}

Bytes stun(bool padded, bool change) {
  protocol::BindingRequestParams p;
  p.transaction_id.fill(0x42);
  p.change_port = change;
  p.pad_to = padded ? protocol::kStunPaddedRequestSize : 0;
  Bytes out(protocol::kStunMaxBuiltSize);
  out.resize(protocol::buildBindingRequest(p, out));
  return out;
}

Bytes stunAnswer() {
  auto req = stun(false, false);
  auto m = protocol::parseStun(req);
  Bytes out(protocol::kStunMaxBuiltSize);
  out.resize(protocol::buildBindingResponse(*m, *protocol::Endpoint::parse("198.51.100.7:40000"),
                                           *protocol::Endpoint::parse("203.0.113.1:3478"),
                                           std::nullopt, out));
  return out;
}

// One length-prefixed chunk, as FuzzInput::chunk reads it.
void chunk(Bytes& out, const Bytes& b) {
  out.push_back(static_cast<std::uint8_t>(b.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}

Bytes netlinkNewAddr() {
  Bytes b(NLMSG_LENGTH(sizeof(ifaddrmsg)) + RTA_LENGTH(4), 0);
  auto* h = reinterpret_cast<nlmsghdr*>(b.data());
  h->nlmsg_len = static_cast<std::uint32_t>(b.size());
  h->nlmsg_type = RTM_NEWADDR;
  auto* ifa = reinterpret_cast<ifaddrmsg*>(NLMSG_DATA(h));
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 24;
  ifa->ifa_index = 2;
  auto* rta = reinterpret_cast<rtattr*>(b.data() + NLMSG_LENGTH(sizeof(ifaddrmsg)));
  rta->rta_len = RTA_LENGTH(4);
  rta->rta_type = IFA_LOCAL;
  std::uint8_t addr[4] = {192, 0, 2, 1};
  std::memcpy(RTA_DATA(rta), addr, 4);
  return b;
}

Bytes netlinkError(int err) {
  Bytes b(NLMSG_LENGTH(sizeof(nlmsgerr)), 0);
  auto* h = reinterpret_cast<nlmsghdr*>(b.data());
  h->nlmsg_len = static_cast<std::uint32_t>(b.size());
  h->nlmsg_type = NLMSG_ERROR;
  reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error = err;
  return b;
}

Bytes certificateDer(const fs::path& dir) {
  crypto::CaOptions ca;
  ca.name = "seed-ca";
  crypto::createCa(ca, dir / "ca");
  crypto::SignOptions s;
  s.name = "alice";
  s.addresses = {*protocol::IpPrefix::parse("10.42.0.1/24"), *protocol::IpPrefix::parse("fd42::1/64")};
  crypto::signCertificate(dir / "ca", s, dir / "alice");
  FILE* f = std::fopen((dir / "alice.crt").c_str(), "r");
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  unsigned char* der = nullptr;
  int n = i2d_X509(x, &der);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

}  // namespace

// Port mapping programs (fuzz_port_mapping.cpp): op 0 = a datagram from the router (16-bit
// length first), op 2 = time passes, op 3 = a UPnP result. The PortMapper's nonce is all zero.
Bytes pcpAnswer(std::uint8_t result) {
  Bytes b = {2, 0x81, 0, result, 0, 0, 0x0E, 0x10, 0, 0, 0, 9};
  b.resize(36, 0);  // reserved, then the zero nonce
  Bytes rest = {17, 0, 0, 0, 0xCA, 0x6C, 0xEA, 0x61, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF,
                203, 0, 113, 5};
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

void portMappingSeeds() {
  Bytes pcp = {0};
  chunk(pcp, pcpAnswer(0));
  pcp.insert(pcp.end(), {2, 0x70, 0x00});  // 0x7000 * 64 ms later: past the renewal (1800 s)
  write("port_mapping", "pcp-mapped", pcp);
  Bytes natpmp = {0};
  chunk(natpmp, Bytes{0, 0x81, 0, 1, 0, 0, 0, 9});  // a NAT-PMP router answers PCP
  natpmp.push_back(0);
  chunk(natpmp, Bytes{0, 128, 0, 0, 0, 0, 0, 9, 203, 0, 113, 9});
  natpmp.push_back(0);
  chunk(natpmp, Bytes{0, 129, 0, 0, 0, 0, 0, 9, 0xCA, 0x6C, 0xCA, 0x6C, 0, 0, 0x1C, 0x20});
  write("port_mapping", "nat-pmp-mapped", natpmp);
  Bytes upnp = {0};
  chunk(upnp, pcpAnswer(2));  // not authorized
  upnp.push_back(0);
  chunk(upnp, Bytes{0, 128, 0, 2, 0, 0, 0, 9});  // refused
  upnp.insert(upnp.end(), {3, 203, 0, 113, 7, 0x9C, 0x40, 0x1C, 0x20});
  write("port_mapping", "upnp-mapped", upnp);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  g_root = argv[1];
  const auto hello = handshake(protocol::kFlagHello, 1, 230);
  const auto hello_cookie = handshake(protocol::kFlagHello, 1, 230, {}, true);
  const auto kick = handshake(protocol::kFlagHello | protocol::kFlagKick, 0, 0);
  const auto flight = handshake(0, 2, protocol::kMaxHandshakePayload, {1, 2, 3});
  const auto ack = handshake(0, 0, 0, {1, 2});

  write("data_packet", "data", dataPacket(false, 28));
  write("data_packet", "keepalive", dataPacket(true, 0));
  write("data_packet", "ipv4", ipv4Packet());
  write("tso_split", "tcp4", tsoRead(false, 3000, 1000, 1));
  write("tso_split", "tcp6", tsoRead(true, 2500, 1200, 4));
  write("tso_split", "partial-checksum", tsoRead(false, 900, 1400, 0));
  write("tso_split", "udp4", usoRead(false, 3000, 1000));
  write("tso_split", "udp6", usoRead(true, 2500, 1200));
  write("inner_mtu", "syn4", innerMtuSeed(false, true));
  write("inner_mtu", "syn6", innerMtuSeed(true, true));
  write("inner_mtu", "udp4-df", innerMtuSeed(false, false));
  write("inner_mtu", "udp6", innerMtuSeed(true, false));
  write("handshake_packet", "hello", hello);
  write("handshake_packet", "hello-cookie", hello_cookie);
  write("handshake_packet", "kick", kick);
  write("handshake_packet", "flight", flight);
  write("handshake_packet", "ack", ack);
  write("handshake_packet", "cookie-reply", cookieReply());
  write("punch_packet", "probe", probe(false));
  write("punch_packet", "reply", probe(true));
  {
    Bytes r = {0, protocol::kTypeRelay, 0x12, 0x34};  // 0: parse, do not seal first
    r.insert(r.end(), hello.begin(), hello.end());
    write("relay_packet", "relayed-hello", r);
    Bytes s = {1};
    s.insert(s.end(), hello.begin(), hello.end());
    write("relay_packet", "seal-hello", s);
  }
  protocol::RegisterMsg reg;
  reg.candidates = {{protocol::CandidateKind::kLocal, *protocol::Endpoint::parse("10.0.1.2:51820")},
                    {protocol::CandidateKind::kTcp, *protocol::Endpoint::parse("[2001:db8::1]:443")}};
  write("rendezvous_messages", "register", control(reg));
  write("rendezvous_messages", "registered",
        control(protocol::RegisteredMsg{*protocol::Endpoint::parse("198.51.100.7:40000"), 25}));
  write("rendezvous_messages", "lookup",
        control(protocol::LookupMsg{7, "bob", std::nullopt, std::nullopt}));
  write("rendezvous_messages", "lookup-reading",
        control(protocol::LookupMsg{7, "bob", std::nullopt, protocol::PortReading{40001, 1}}));
  protocol::IntroduceMsg intro;
  intro.request_id = 7;
  intro.intro_id = 99;
  intro.peer_name = "bob";
  intro.candidates = reg.candidates;
  write("rendezvous_messages", "introduce", control(intro));
  intro.peer_nat_type = protocol::NatType::kSymmetric;
  intro.peer_reading = protocol::PortReading{20001, 2};
  write("rendezvous_messages", "introduce-reading", control(intro));
  write("rendezvous_messages", "relay-request", control(protocol::RelayRequestMsg{8, "bob"}));
  write("rendezvous_messages", "relay-bound", control(protocol::RelayBoundMsg{8, 0x1234, "bob"}));
  write("rendezvous_messages", "also-here", control(protocol::AlsoHereMsg{9}));
  write("rendezvous_messages", "seen-here",
        control(protocol::SeenHereMsg{9, *protocol::Endpoint::parse("[2001:db8:7::7]:40001")}));
  std::vector<std::uint8_t> client_hello(230, 0x16);
  write("rendezvous_messages", "hello-via", control(protocol::HelloViaMsg{"bob", client_hello}));
  write("rendezvous_messages", "hello-from",
        control(protocol::HelloFromMsg{99, "alice", client_hello}));
  write("stun", "binding", stun(false, false));
  write("stun", "binding-padded", stun(true, false));
  write("stun", "binding-change", stun(true, true));
  write("stun", "success", stunAnswer());
  portMappingSeeds();
  {
    Bytes rc = {0};  // no stream bytes of its own
    rc.push_back(5);
    chunk(rc, flight);
    rc.push_back(5);
    chunk(rc, ack);
    write("reliable_channel", "two-packets", rc);
  }
  {
    Bytes fc = {3, 0x00, 0x05, 1, 2, 3, 4, 5, 0x00, 0x02, 9};
    write("frame_codec", "frames", fc);
  }
  writeText("peer_file", "full", R"([peer]
name    = "alice"
address = ["10.42.0.1/24", "fd42::1/64"]
listen  = "0.0.0.0:51820"
ca   = "ca.crt"
cert = "alice.crt"
key  = "alice.key"
network_key = "network.key"
user = "vpnpeer"
log_level = "info"
tcp_listen = true
tcp_advertise = ["203.0.113.9:51820"]

[tun]
name = "vpn0"
mtu = 1400

[tunnel]
cipher = "aes-256-gcm"
keepalive = 10
rekey = 120
dead_peer = 40

[[peers]]
name = "bob"
endpoint = "198.51.100.2:51820"

[[rendezvous]]
address = "rv1.example.net:3478"
tcp = "rv1.example.net:443"

[paths]
relay = true
relay_after = 2.5
)");
  writeText("rendezvous_file", "full", R"([rendezvous]
listen = ["0.0.0.0:3478", "[::]:3478"]
tcp_listen = "0.0.0.0:443"
alt_port = 3479
alt_address = "203.0.113.2"
ca = "ca.crt"
cert = "rv1.crt"
key = "rv1.key"
network_key = "ca"
user = "vpnpeer"
refresh = 25
handshake_rate = 2

[relay]
enabled = true
max_channels = 256
rate = 12500000
)");
  {
    Bytes both = netlinkNewAddr();
    Bytes err = netlinkError(-17);
    both.insert(both.end(), err.begin(), err.end());
    write("netlink", "newaddr-and-error", both);
    write("netlink", "ack", netlinkError(0));
  }
  writeText("control_protocol", "status", "VPNPEER/1 status json\n");
  writeText("control_protocol", "explain", "VPNPEER/1 explain bob json\n");
  writeText("control_protocol", "ok", "VPNPEER/1 OK\n{}");
  {
    auto dir = fs::temp_directory_path() / "vpnpeer-seeds";
    fs::remove_all(dir);
    fs::create_directories(dir);
    write("certificate", "peer", certificateDer(dir));
    fs::remove_all(dir);
  }
  {
    // Engine programs: op 0 (datagram: source, chunk, transport), op 1 (our own back, changed),
    // op 2 (time), op 3 (TUN packet).
    Bytes e = {0, 0};
    chunk(e, kick);
    e.push_back(0);
    e.insert(e.end(), {2, 0x01, 0x00, 1, 0, 0, 5, 0, 7, 3});
    chunk(e, ipv4Packet());
    e.insert(e.end(), {0, 1});
    chunk(e, dataPacket(false, 28));
    e.push_back(0);
    write("engine", "kick-time-tun", e);
    Bytes h = {0, 2};
    chunk(h, hello_cookie);
    h.push_back(1);
    write("engine", "hello-over-tcp", h);
    Bytes r = {0, 0, 0};
    chunk(r, stun(true, false));
    r.push_back(0);
    write("rendezvous_engine", "stun", r);
    Bytes t = {0, 4, 1};
    chunk(t, hello);
    t.insert(t.end(), {2, 0x00, 0x40, 1, 0, 4, 1, 0, 3, 1});
    write("rendezvous_engine", "hello-over-tcp", t);
  }
  std::printf("seeds written under %s\n", g_root.c_str());
  return 0;
}
