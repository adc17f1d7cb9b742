#include "tests/unit/crypto/test_support.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <stdexcept>

namespace vpn::crypto::test {
namespace {

bool carry(TlsSession& from, TlsSession& to, std::vector<std::uint8_t>& log) {
  std::uint8_t buf[1000];  // smaller than a flight, so flights arrive in pieces
  bool moved = false;
  while (std::size_t n = from.readOutgoing(buf)) {
    log.insert(log.end(), buf, buf + n);
    to.writeIncoming(std::span<const std::uint8_t>(buf, n));
    to.advance();
    moved = true;
  }
  return moved;
}

}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/vpnpeer-crypto-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::uint8_t> fromHex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  int hi = -1;
  for (char c : hex) {
    int v = nibble(c);
    if (v < 0) {
      continue;  // lets vectors keep their spaces
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

std::string toHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

void signPeer(const TempDir& dir, const std::string& ca, const std::string& name,
              KeyType key_type, int days) {
  SignOptions opts;
  opts.name = name;
  opts.addresses = {*protocol::IpPrefix::parse("10.42.0.7/24")};
  opts.key_type = key_type;
  opts.validity_days = days;
  signCertificate(dir / ca, opts, dir / name);
}

TlsContextOptions contextOptions(const TempDir& dir, const std::string& ca,
                                 const std::string& name) {
  TlsContextOptions o;
  o.ca_cert = dir / (ca + ".crt");
  o.cert = dir / (name + ".crt");
  o.key = dir / (name + ".key");
  return o;
}

Transcript runHandshake(TlsSession& client, TlsSession& server) {
  Transcript t;
  client.advance();
  for (int round = 0; round < 20; ++round) {
    bool a = carry(client, server, t.client_to_server);
    bool b = carry(server, client, t.server_to_client);
    if (!a && !b) {
      break;
    }
  }
  return t;
}

}  // namespace vpn::crypto::test
