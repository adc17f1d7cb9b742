// Each kind of mistake gives the expected message, key path and line:col.
#include <gtest/gtest.h>

#include "config/load.hpp"
#include "tests/unit/config/test_util.hpp"

namespace vpn::config {
namespace {

using test::errorLines;
using test::kBase;
using test::withBase;
using Lines = std::vector<std::string>;

// kBase with one of its lines (1-based) replaced.
std::string baseWithLine(int line, std::string_view replacement) {
  std::string text(kBase);
  std::size_t start = 0;
  for (int i = 1; i < line; ++i) {
    start = text.find('\n', start) + 1;
  }
  std::size_t end = text.find('\n', start);
  text.replace(start, end - start, replacement);
  return text;
}

const std::string kBadName =
    " is not a valid peer name: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting "
    "with a letter or digit";

TEST(UnknownKeys, KeyWithDidYouMean) {
  EXPECT_EQ(errorLines(baseWithLine(3, "adress = \"10.42.0.1/24\"")),
            (Lines{"alice.toml:1:1: peer.address: missing required key",
                   "alice.toml:3:1: peer.adress: unknown key (did you mean 'address'?)"}));
}

TEST(UnknownKeys, CaseInsensitiveSuggestion) {
  EXPECT_EQ(errorLines(withBase("[tun]\nMTU = 1400\n")),
            (Lines{"alice.toml:9:1: tun.MTU: unknown key (did you mean 'mtu'?)"}));
}

TEST(UnknownKeys, NoSuggestionWhenNothingIsClose) {
  EXPECT_EQ(errorLines(withBase("[tunnel]\ncolour = \"red\"\n")),
            (Lines{"alice.toml:9:1: tunnel.colour: unknown key"}));
}

TEST(UnknownKeys, TableWithDidYouMean) {
  EXPECT_EQ(errorLines(withBase("[tunel]\nkeepalive = 5\n")),
            (Lines{"alice.toml:8:2: tunel: unknown table (did you mean 'tunnel'?)"}));
  EXPECT_EQ(errorLines(withBase("[[peer]]\nname = \"bob\"\n")).size(), 1u);
}

TEST(UnknownKeys, NestedTableAndQuotedKey) {
  EXPECT_EQ(errorLines(withBase("\"my key\" = 1\n[peer.extra]\nx = 1\n")),
            (Lines{"alice.toml:8:1: peer.\"my key\": unknown key",
                   "alice.toml:9:7: peer.extra: unknown table"}));
}

TEST(UnknownKeys, TopLevelKeyThatBelongsInASection) {
  EXPECT_EQ(errorLines("mtu = 1400\n" + std::string(kBase)),
            (Lines{"alice.toml:1:1: mtu: unknown key ('mtu' belongs in the [tun] section)"}));
}

TEST(UnknownKeys, InPeersEntry) {
  EXPECT_EQ(errorLines(withBase("[[peers]]\nname = \"bob\"\nendpont = \"192.0.2.7:1\"\n")),
            (Lines{"alice.toml:10:1: peers[0].endpont: unknown key (did you mean 'endpoint'?)"}));
}

TEST(WrongTypes, SayWhatWasExpected) {
  EXPECT_EQ(errorLines(withBase("[tun]\nmtu = \"big\"\n")),
            (Lines{"alice.toml:9:7: tun.mtu: expected an integer, got a string"}));
  EXPECT_EQ(errorLines(withBase("[tunnel]\nkeepalive = 1.5\nrekey = true\ncipher = 256\n")),
            (Lines{"alice.toml:9:13: tunnel.keepalive: expected an integer, got a floating-point "
                   "number",
                   "alice.toml:10:9: tunnel.rekey: expected an integer, got a boolean",
                   "alice.toml:11:10: tunnel.cipher: expected a string, got an integer"}));
  EXPECT_EQ(errorLines(baseWithLine(2, "name = 1979-05-27")),
            (Lines{"alice.toml:2:8: peer.name: expected a string, got a date"}));
}

TEST(WrongTypes, Address) {
  EXPECT_EQ(errorLines(baseWithLine(3, "address = 42")),
            (Lines{"alice.toml:3:11: peer.address: expected a string or an array of strings, got "
                   "an integer"}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = [\"10.42.0.1/24\", 7]")),
            (Lines{"alice.toml:3:28: peer.address[1]: expected a string, got an integer"}));
}

TEST(WrongTypes, Tables) {
  EXPECT_EQ(errorLines("[[peer]]\nname = \"alice\"\n"),
            (Lines{"alice.toml:1:1: peer: expected a table ([peer]), got an array of tables"}));
  EXPECT_EQ(errorLines(withBase("tun = 5\n")),
            (Lines{"alice.toml:8:1: peer.tun: unknown key"}));
  EXPECT_EQ(errorLines("tun = 5\n" + std::string(kBase)),
            (Lines{"alice.toml:1:7: tun: expected a table ([tun]), got an integer"}));
  EXPECT_EQ(errorLines(withBase("[peers]\nname = \"bob\"\n")),
            (Lines{"alice.toml:8:1: peers: expected an array of tables ([[peers]]), got a table"}));
  EXPECT_EQ(errorLines("peers = [1]\n" + std::string(kBase)),
            (Lines{"alice.toml:1:10: peers[0]: expected a table, got an integer"}));
}

TEST(MissingKeys, ReportedAtTheTable) {
  EXPECT_EQ(errorLines("# alice\n\n[peer]\nname = \"alice\"\n"),
            (Lines{"alice.toml:3:1: peer.address: missing required key",
                   "alice.toml:3:1: peer.listen: missing required key",
                   "alice.toml:3:1: peer.ca: missing required key",
                   "alice.toml:3:1: peer.cert: missing required key",
                   "alice.toml:3:1: peer.key: missing required key"}));
  EXPECT_EQ(errorLines(withBase("[[peers]]\nendpoint = \"192.0.2.7:51820\"\n")),
            (Lines{"alice.toml:8:1: peers[0].name: missing required key"}));
}

TEST(MissingKeys, MissingPeerTable) {
  EXPECT_EQ(errorLines("[tun]\nmtu = 1400\n"),
            (Lines{"alice.toml:1:1: peer: missing required table [peer]"}));
  EXPECT_EQ(errorLines(""), (Lines{"alice.toml:1:1: peer: missing required table [peer]"}));
}

TEST(Semantics, Address) {
  const std::string bad = " is not an IP address with a prefix length, e.g. \"10.42.0.1/24\"";
  EXPECT_EQ(errorLines(baseWithLine(3, "address = \"10.42.0.300/24\"")),
            (Lines{"alice.toml:3:11: peer.address: '10.42.0.300/24'" + bad}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = \"10.42.0.1\"")),
            (Lines{"alice.toml:3:11: peer.address: '10.42.0.1'" + bad}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = \"10.42.0.1/33\"")),
            (Lines{"alice.toml:3:11: peer.address: '10.42.0.1/33'" + bad}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = \"fd42::g/64\"")),
            (Lines{"alice.toml:3:11: peer.address: 'fd42::g/64' is not an IP address with a "
                   "prefix length, e.g. \"fd42::1/64\""}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = \"10.42.0.0/24\"")),
            (Lines{"alice.toml:3:11: peer.address: '10.42.0.0/24' is the network address of its "
                   "subnet; give this peer's own address in it, e.g. \"10.42.0.1/24\""}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = \"0.0.0.0/8\"")),
            (Lines{"alice.toml:3:11: peer.address: '0.0.0.0/8' is not usable as an overlay "
                   "address (unspecified or loopback)"}));
  EXPECT_EQ(errorLines(baseWithLine(3, "address = []")),
            (Lines{"alice.toml:3:11: peer.address: must contain at least one address"}));
}

TEST(Semantics, AtMostOneAddressPerFamily) {
  EXPECT_EQ(errorLines(baseWithLine(3, "address = [\"10.42.0.1/24\", \"10.43.0.1/24\"]")),
            (Lines{"alice.toml:3:28: peer.address[1]: '10.43.0.1/24' is a second IPv4 address; "
                   "at most one IPv4 and one IPv6 address are allowed"}));
  auto three = baseWithLine(3, R"(address = ["fd42::1/64", "10.42.0.1/24", "fd43::1/64"])");
  EXPECT_EQ(errorLines(three),
            (Lines{"alice.toml:3:42: peer.address[2]: 'fd43::1/64' is a second IPv6 address; "
                   "at most one IPv4 and one IPv6 address are allowed"}));
}

TEST(Semantics, Listen) {
  EXPECT_EQ(errorLines(baseWithLine(4, "listen = \"51820\"")),
            (Lines{"alice.toml:4:10: peer.listen: '51820' is not an IP address and port (an "
                   "address is needed too), e.g. \"0.0.0.0:51820\", or \"[::]:51820\" for dual "
                   "stack"}));
  EXPECT_EQ(errorLines(baseWithLine(4, "listen = \"::1:51820\"")),
            (Lines{"alice.toml:4:10: peer.listen: '::1:51820' is not an IP address and port, "
                   "e.g. \"0.0.0.0:51820\", or \"[::]:51820\" for dual stack"}));
  EXPECT_EQ(errorLines(baseWithLine(4, "listen = \"0.0.0.0:0\"")),
            (Lines{"alice.toml:4:10: peer.listen: '0.0.0.0:0': port 0 is not allowed; other peers "
                   "need a fixed port to reach this one"}));
}

TEST(Semantics, PeerName) {
  EXPECT_EQ(errorLines(baseWithLine(2, "name = \"Alice\"")),
            (Lines{"alice.toml:2:8: peer.name: 'Alice'" + kBadName}));
  EXPECT_EQ(errorLines(baseWithLine(2, "name = \"\"")),
            (Lines{"alice.toml:2:8: peer.name: ''" + kBadName}));
}

TEST(Semantics, PeersEntries) {
  EXPECT_EQ(errorLines(withBase("[[peers]]\nname = \"bob\"\n"
                                "[[peers]]\nname = \"alice\"\n"
                                "[[peers]]\nname = \"bob\"\n"
                                "[[peers]]\nname = \"Bob!\"\n")),
            (Lines{"alice.toml:11:8: peers[1].name: 'alice' is this peer's own name (peer.name); "
                   "list only the other peers",
                   "alice.toml:13:8: peers[2].name: duplicate peer name 'bob' (first listed at "
                   "line 9)",
                   "alice.toml:15:8: peers[3].name: 'Bob!'" + kBadName}));
}

TEST(Semantics, PeerEndpoint) {
  const std::string bob = "[[peers]]\nname = \"bob\"\n";
  EXPECT_EQ(errorLines(withBase(bob + "endpoint = \"bob.example.com:51820\"\n")),
            (Lines{"alice.toml:10:12: peers[0].endpoint: 'bob.example.com:51820' is not an IP "
                   "address and port, e.g. \"192.0.2.7:51820\" or \"[2001:db8::7]:51820\" (host "
                   "names are not supported)"}));
  EXPECT_EQ(errorLines(withBase("[[peers]]\nname = \"bob\"\nendpoint = \"[2001:db8::7]:51820\"\n")),
            (Lines{"alice.toml:10:12: peers[0].endpoint: '[2001:db8::7]:51820' is IPv6, but "
                   "peer.listen '0.0.0.0:51820' only covers IPv4; listen on \"[::]:51820\" for "
                   "dual stack"}));
  EXPECT_EQ(errorLines(withBase("[[peers]]\nname = \"bob\"\nendpoint = \"0.0.0.0:51820\"\n")),
            (Lines{"alice.toml:10:12: peers[0].endpoint: '0.0.0.0:51820' cannot be reached: it "
                   "needs a specific address and a port other than 0"}));
}

TEST(Semantics, Mtu) {
  EXPECT_EQ(errorLines(withBase("[tun]\nmtu = 100\n")),
            (Lines{"alice.toml:9:7: tun.mtu: 100 is out of range 576..9000"}));
  EXPECT_EQ(errorLines(withBase("[tun]\nmtu = 9001\n")),
            (Lines{"alice.toml:9:7: tun.mtu: 9001 is out of range 576..9000"}));
  EXPECT_TRUE(errorLines(withBase("[tun]\nmtu = 1200\n")).empty());
  EXPECT_EQ(errorLines(baseWithLine(3, "address = [\"10.42.0.1/24\", \"fd42::1/64\"]") +
                       "[tun]\nmtu = 1200\n"),
            (Lines{"alice.toml:9:7: tun.mtu: 1200 is too small for the IPv6 address in "
                   "peer.address: IPv6 requires every link to carry packets of at least 1280 "
                   "bytes (RFC 8200); use 1280 or more"}));
}

TEST(Semantics, TunName) {
  EXPECT_EQ(errorLines(withBase("[tun]\nname = \"averyveryverylongname\"\n")),
            (Lines{"alice.toml:9:8: tun.name: 'averyveryverylongname' is 21 characters long; "
                   "interface names have at most 15"}));
  EXPECT_EQ(errorLines(withBase("[tun]\nname = \"vpn 0\"\n")),
            (Lines{"alice.toml:9:8: tun.name: 'vpn 0' contains characters other than A-Z, a-z, "
                   "0-9, '_', '.' and '-'"}));
  EXPECT_EQ(errorLines(withBase("[tun]\nname = \"\"\n")),
            (Lines{"alice.toml:9:8: tun.name: '' is empty; give an interface name such as "
                   "\"vpn0\""}));
  EXPECT_TRUE(errorLines(withBase("[tun]\nname = \"abcdefghijklmno\"\n")).empty());
}

TEST(Semantics, Cipher) {
  EXPECT_EQ(errorLines(withBase("[tunnel]\ncipher = \"aes256gcm\"\n")),
            (Lines{"alice.toml:9:10: tunnel.cipher: 'aes256gcm' is not a supported cipher; use "
                   "one of auto, aes-256-gcm, chacha20-poly1305 (did you mean 'aes-256-gcm'?)"}));
  EXPECT_EQ(errorLines(withBase("[tunnel]\ncipher = \"blowfish\"\n")),
            (Lines{"alice.toml:9:10: tunnel.cipher: 'blowfish' is not a supported cipher; use "
                   "one of auto, aes-256-gcm, chacha20-poly1305"}));
}

TEST(Semantics, UnknownOffloadIsNamed) {
  EXPECT_EQ(errorLines(withBase("[tunnel]\noffloads = [\"udp-gso\", \"udp-gr0\"]\n")),
            (Lines{"alice.toml:9:24: tunnel.offloads[1]: 'udp-gr0' is not an offload; use any of "
                   "udp-gso, udp-gro, tun-tso, tun-uso, tun-gro (did you mean 'udp-gro'?)"}));
}

TEST(Semantics, WorkersOutOfRange) {
  EXPECT_EQ(errorLines(withBase("[tunnel]\nworkers = 65\n")),
            (Lines{"alice.toml:9:11: tunnel.workers: 65 is out of range 0..64 threads"}));
}

TEST(Semantics, DurationRanges) {
  EXPECT_EQ(errorLines(withBase("[tunnel]\nkeepalive = 0\nrekey = 5\n"
                                "cert_expiry_warning_days = -1\ndead_peer = 90000\n")),
            (Lines{"alice.toml:9:13: tunnel.keepalive: 0 is out of range 1..3600 seconds",
                   "alice.toml:10:9: tunnel.rekey: 5 is out of range 10..86400 seconds",
                   "alice.toml:11:28: tunnel.cert_expiry_warning_days: -1 is out of range "
                   "0..3650 days",
                   "alice.toml:12:13: tunnel.dead_peer: 90000 is out of range 3..86400 seconds"}));
}

TEST(Semantics, DeadPeerMustExceedTwiceKeepalive) {
  const std::string why =
      ", so that losing two keepalives in a row does not tear the tunnel down";
  EXPECT_EQ(errorLines(withBase("[tunnel]\ndead_peer = 20\n")),
            (Lines{"alice.toml:9:13: tunnel.dead_peer: 20 seconds must exceed twice keepalive "
                   "(2 x 10 = 20)" + why}));
  EXPECT_EQ(errorLines(withBase("[tunnel]\nkeepalive = 30\n")),
            (Lines{"alice.toml:9:13: tunnel.keepalive: with keepalive 30, dead_peer must exceed "
                   "2 x 30 = 60 but is 40 (the default); set tunnel.dead_peer" + why}));
  EXPECT_TRUE(errorLines(withBase("[tunnel]\nkeepalive = 30\ndead_peer = 61\n")).empty());
}

TEST(Semantics, LogLevelAndPaths) {
  EXPECT_EQ(errorLines(withBase("log_level = \"warning\"\n")),
            (Lines{"alice.toml:8:13: peer.log_level: 'warning' is not a log level; use one of "
                   "debug, info, warn, error (did you mean 'warn'?)"}));
  EXPECT_EQ(errorLines(baseWithLine(5, "ca = \"\"")),
            (Lines{"alice.toml:5:6: peer.ca: must not be empty"}));
  EXPECT_EQ(errorLines(withBase("control_socket = \"/" + std::string(120, 's') + "\"\n")).size(),
            1u);
}

TEST(Semantics, ValuesAreSanitizedInMessages) {
  auto lines = errorLines(baseWithLine(2, "name = \"a\\nb\\u0007" + std::string(100, 'x') + "\""));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("'a\\x0ab\\x07xxx"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("xxx...'"), std::string::npos) << lines[0];
}

TEST(AllErrors, SeveralProblemsAreAllReportedInFileOrder) {
  auto lines = errorLines(R"([peer]
name = "alice"
adress = "10.42.0.1/24"
listen = "0.0.0.0:51820"
ca = "ca.crt"
cert = "alice.crt"
key = "alice.key"
log_level = "verbose"
[tun]
mtu = "1400"
[tunnel]
cipher = "aes-128-gcm"
keepalive = 100
[tunel]
[[peers]]
name = "bob"
endpoint = "192.0.2.7"
[[peers]]
name = "bob"
)");
  EXPECT_EQ(lines,
            (Lines{
                "alice.toml:1:1: peer.address: missing required key",
                "alice.toml:3:1: peer.adress: unknown key (did you mean 'address'?)",
                "alice.toml:8:13: peer.log_level: 'verbose' is not a log level; use one of debug, "
                "info, warn, error",
                "alice.toml:10:7: tun.mtu: expected an integer, got a string",
                "alice.toml:12:10: tunnel.cipher: 'aes-128-gcm' is not a supported cipher; use one "
                "of auto, aes-256-gcm, chacha20-poly1305",
                "alice.toml:13:13: tunnel.keepalive: with keepalive 100, dead_peer must exceed 2 x "
                "100 = 200 but is 40 (the default); set tunnel.dead_peer, so that losing two "
                "keepalives in a row does not tear the tunnel down",
                "alice.toml:14:2: tunel: unknown table (did you mean 'tunnel'?)",
                "alice.toml:17:12: peers[0].endpoint: '192.0.2.7' is not an IP address and port, "
                "e.g. \"192.0.2.7:51820\" or \"[2001:db8::7]:51820\" (host names are not "
                "supported)",
                "alice.toml:19:8: peers[1].name: duplicate peer name 'bob' (first listed at line "
                "16)",
            }));
}

TEST(Syntax, ErrorHasPositionAndDescription) {
  auto r = parsePeerConfig(withBase("[tun]\nmtu = 1400\nname = \"vpn0\n"), "alice.toml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().size(), 1u);
  const ConfigError& e = r.error()[0];
  EXPECT_EQ(e.file, "alice.toml");
  EXPECT_EQ(e.line, 10);
  EXPECT_EQ(e.column, 13);
  EXPECT_EQ(e.key_path, "");
  EXPECT_EQ(e.toString(), "alice.toml:10:13: " + e.message);
  EXPECT_NE(e.message.find("Error while parsing string"), std::string::npos) << e.message;
}

TEST(Syntax, DuplicateKey) {
  auto lines = errorLines(withBase("name = \"bob\"\n"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("alice.toml:8:", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("cannot redefine existing string 'name'"), std::string::npos)
      << lines[0];
}

}  // namespace
}  // namespace vpn::config
