#pragma once
// Network certificates: X.509 from the network's own CA. A peer certificate carries the peer name
// in the subject CN and its overlay addresses as iPAddress SANs (an address with its prefix length
// is encoded as the address alone; the prefix length goes in a private extension, see below).
// The private extension (a non-critical OID under 2.25, see certificate.cpp) holds the prefix
// lengths, the role and the groups; "role=rendezvous" marks the rendezvous server's certificate,
// "groups=ops,db" names the peer's groups. Without the
// extension, addresses read back with host prefix lengths. Keys are Ed25519 (default) or ECDSA
// P-256. Validity starts 5 minutes before issuance to tolerate clock skew.
//
// Errors: every function here runs at start-up or from the CLI and throws CryptoError whose
// what() is one sentence a user can act on ("cannot read CA key ca.key: No such file or
// directory"). Thread-safe: no shared state.
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ip_address.hpp"

namespace vpn::crypto {

class CryptoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class KeyType { kEd25519, kEcdsaP256 };

struct CertIdentity {
  std::string name;                                // subject CN
  std::vector<protocol::IpPrefix> addresses;       // overlay addresses with prefix lengths
  bool rendezvous_role = false;
  std::vector<std::string> groups;                 // "groups=" in our extension, for firewall rules
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string issuer;                              // issuer CN
  std::string fingerprint;                         // SHA-256 of the DER, lowercase hex
};

struct CaOptions {
  std::string name;
  KeyType key_type = KeyType::kEd25519;
  int validity_days = 3650;
};

struct SignOptions {
  std::string name;
  std::vector<protocol::IpPrefix> addresses;
  std::vector<std::string> groups;  // each a valid group name (isValidGroupName)
  bool rendezvous_role = false;
  KeyType key_type = KeyType::kEd25519;
  int validity_days = 365;
};

// A group name: 1 to 64 characters of [a-z0-9._-], starting with a letter or a digit (the same
// rule as peer names, so groups can be written in files and rules without quoting).
bool isValidGroupName(std::string_view name);

// Writes <out>.crt and <out>.key (mode 0600). Refuses to overwrite existing files.
void createCa(const CaOptions& opts, const std::filesystem::path& out);

// Signs a new certificate with the CA at <ca>.crt / <ca>.key, writing <out>.crt and <out>.key.
// Refuses to overwrite, and refuses validity beyond the CA's own expiry.
void signCertificate(const std::filesystem::path& ca, const SignOptions& opts,
                     const std::filesystem::path& out);

// Reads a PEM certificate and returns what it says (no chain verification).
CertIdentity readIdentity(const std::filesystem::path& cert_pem);

}  // namespace vpn::crypto
