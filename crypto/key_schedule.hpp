#pragma once
// Data-channel key schedule. After the TLS handshake, both sides export 64 bytes with the label
// "EXPORTER-vpnpeer-data-v1": the first 32 are the client-to-server traffic secret, the last 32 the
// server-to-client one. From a traffic secret s:
//   key = HKDF-Expand(s, "vpnpeer key", 32)      iv = HKDF-Expand(s, "vpnpeer iv", 12)
//   next secret (key update / rekey) = HKDF-Expand(s, "vpnpeer ku", 32)
// with SHA-256. Old secrets are wiped once replaced, so a leaked key does not expose earlier ones.
// Pure functions; no allocation beyond the returned cipher (HKDF itself uses a short-lived
// OpenSSL context).
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "crypto/aead.hpp"

namespace vpn::crypto {

class TlsSession;

struct TrafficSecret {
  std::array<std::uint8_t, 32> bytes{};
  void wipe();
};

struct SessionSecrets {
  TrafficSecret client_to_server;
  TrafficSecret server_to_client;
};

inline constexpr std::string_view kDataExporterLabel = "EXPORTER-vpnpeer-data-v1";

std::optional<SessionSecrets> exportSessionSecrets(TlsSession& session);
TrafficSecret nextSecret(const TrafficSecret& s);
// The key and IV of s, for AeadScratch; the caller wipes the result when done with it.
AeadKey deriveKey(const TrafficSecret& s);
std::unique_ptr<AeadCipher> makeCipher(CipherSuite suite, const TrafficSecret& s);

}  // namespace vpn::crypto
