#pragma once
// TlsContext: the credentials one process uses for every TLS 1.3 session: the network CA (the only
// trust anchor), its own certificate and private key, and the data cipher preference.
//
// create() checks everything a user can get wrong and throws CryptoError with one clear sentence:
// unreadable or malformed files, a key that does not match the certificate, a certificate not
// issued by the CA, a certificate that is expired or not yet valid. It logs a warning when the
// certificate expires within `expiry_warning`.
// Ownership: the context must outlive every TlsSession made from it. Not thread-safe; one event
// loop thread uses it. adopt() renews the credentials in place (a reload): sessions made before
// keep the ones they started with (OpenSSL counts references to them).
#include <chrono>
#include <filesystem>
#include <memory>

#include "crypto/aead.hpp"
#include "crypto/certificate.hpp"

namespace vpn::crypto {

struct TlsContextOptions {
  std::filesystem::path ca_cert;
  std::filesystem::path cert;
  std::filesystem::path key;
  // The data ciphers we accept, most preferred first; both sides' TLS 1.3 cipher suite
  // negotiation picks one and the data channel uses the same AEAD.
  std::vector<CipherSuite> ciphers = defaultCipherOrder();
  std::chrono::hours expiry_warning{24 * 30};
};

// "2027-01-31 12:00:00 UTC": how status and the logs show a certificate's dates.
std::string formatUtc(std::chrono::system_clock::time_point t);

// One sentence when `id` expires within `window` of `now` (or has expired), naming it as `what`
// and saying what to do; "" otherwise. For status, check and the periodic log line.
std::string expiryWarning(const CertIdentity& id, std::string_view what, std::chrono::hours window,
                          std::chrono::system_clock::time_point now);

class TlsContext {
 public:
  static std::unique_ptr<TlsContext> create(const TlsContextOptions& opts);
  virtual ~TlsContext() = default;

  // Our own certificate and the CA's, as read at create().
  virtual const CertIdentity& identity() const = 0;
  virtual const CertIdentity& caIdentity() const = 0;
  // Certificates refused by fingerprint (SHA-256, lowercase hex), in every handshake from now on;
  // replaces the previous list. Sessions already up are the caller's to close.
  virtual void setBlocklist(std::vector<std::string> fingerprints) = 0;
  virtual bool isBlocked(const std::string& fingerprint) const = 0;
  // Takes `fresh`'s CA, certificate, key and ciphers for every session made from now on (a
  // renewed certificate on reload); the blocklist stays. `fresh` must come from create().
  virtual void adopt(std::unique_ptr<TlsContext> fresh) = 0;
};

}  // namespace vpn::crypto
