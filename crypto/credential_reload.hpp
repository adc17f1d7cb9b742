#pragma once
// CredentialReload: a reload's view of the TLS credentials (CA, certificate, key). It remembers
// the files' paths and stat() stamps from the last load, so that a reload reads them again only
// when one was replaced or a path changed: a daemon that dropped root may not be allowed to read
// a key root owns, and an unchanged key must not make every reload fail.
//
// load() builds a complete new TlsContext (every check of TlsContext::create) and refuses, with
// one sentence, a CA other than the running one or a certificate for another name: both need a
// restart (peers pin names; a new CA changes who is trusted and a CA-derived network key). The
// caller adopt()s the result into its running context and then calls remember().
// Ownership: plain value. Threading: one thread. Errors: load() throws CryptoError.
#include <memory>

#include "crypto/tls_context.hpp"
#include "os/file_stamp.hpp"

namespace vpn::crypto {

class CredentialReload {
 public:
  explicit CredentialReload(const TlsContextOptions& running) { remember(running); }

  // True if a path or the cipher list differs from the remembered ones, or a file was replaced
  // or rewritten.
  bool changed(const TlsContextOptions& fresh) const;
  // The new context for `fresh`, checked against `running` (same CA, same name).
  std::unique_ptr<TlsContext> load(const TlsContextOptions& fresh,
                                   const TlsContext& running) const;
  void remember(const TlsContextOptions& now_in_use);

 private:
  TlsContextOptions files_;
  os::FileStamp ca_, cert_, key_;
};

}  // namespace vpn::crypto
