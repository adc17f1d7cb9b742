#include "crypto/network_key.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "crypto/certificate.hpp"
#include "crypto/hmac.hpp"
#include "crypto/internal/new_file.hpp"
#include "crypto/internal/openssl_util.hpp"
#include "crypto/random.hpp"

namespace vpn::crypto {
namespace {

constexpr std::string_view kSalt = "vpnpeer network key v1";
constexpr std::size_t kMaxKeyFile = 4096;

std::span<const std::uint8_t> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// HKDF-SHA256 (RFC 5869) with a single output block: Extract with the salt, then Expand `info`.
std::array<std::uint8_t, 32> hkdf(std::span<const std::uint8_t> ikm, std::string_view info) {
  std::array<std::uint8_t, 32> prk{};
  hmacSha256(asBytes(kSalt), ikm, prk);
  std::vector<std::uint8_t> t(info.begin(), info.end());
  t.push_back(1);
  std::array<std::uint8_t, 32> out{};
  hmacSha256(prk, t, out);
  OPENSSL_cleanse(prk.data(), prk.size());
  return out;
}

std::string hex(std::span<const std::uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (auto v : b) {
    s += kDigits[v >> 4];
    s += kDigits[v & 15];
  }
  return s;
}

std::string readKeyFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    throw CryptoError("cannot read network key " + path.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw CryptoError("network key " + path.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    throw CryptoError("network key " + path.string() +
                      " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  std::string data(kMaxKeyFile + 1, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      throw CryptoError("cannot read network key " + path.string() + ": " + std::strerror(saved));
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > kMaxKeyFile) {
    throw CryptoError("network key " + path.string() + " is too large to be a network key");
  }
  data.resize(got);
  return data;
}

// The one non-comment line of a key file, without surrounding blanks; "" if there is not exactly
// one.
std::string keyLine(const std::string& text) {
  std::string found;
  int lines = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line(text.data() + pos, end - pos);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (!line.empty() && line.front() != '#') {
      found = line;
      lines++;
    }
    pos = end + 1;
  }
  return lines == 1 ? found : std::string();
}

}  // namespace

NetworkKey::NetworkKey(Source source, std::span<const std::uint8_t> ikm)
    : source_(source), seal_key_(hkdf(ikm, "seal")) {
  auto id = hkdf(ikm, "fingerprint");
  fingerprint_ = hex(std::span<const std::uint8_t>(id).first(8));
  OPENSSL_cleanse(id.data(), id.size());
}

NetworkKey::~NetworkKey() { OPENSSL_cleanse(seal_key_.data(), seal_key_.size()); }

NetworkKey::NetworkKey(const NetworkKey& other) = default;
NetworkKey& NetworkKey::operator=(const NetworkKey& other) = default;

std::string writeNewNetworkKey(const std::filesystem::path& path) {
  internal::refuseExisting(path);
  std::array<std::uint8_t, NetworkKey::kSize> raw{};
  randomBytes(raw);
  std::array<unsigned char, 4 * ((NetworkKey::kSize + 2) / 3) + 1> b64{};
  EVP_EncodeBlock(b64.data(), raw.data(), static_cast<int>(raw.size()));
  NetworkKey key(NetworkKey::Source::kFile, raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  std::string text = "# vpnpeer network key (fingerprint " + key.fingerprint() +
                     "); every peer and rendezvous of the network needs the same file\n" +
                     reinterpret_cast<const char*>(b64.data()) + "\n";
  OPENSSL_cleanse(b64.data(), b64.size());
  try {
    internal::writeNewFile(path, text, 0600);
  } catch (...) {
    OPENSSL_cleanse(text.data(), text.size());
    throw;
  }
  OPENSSL_cleanse(text.data(), text.size());
  return key.fingerprint();
}

NetworkKey readNetworkKeyFile(const std::filesystem::path& path) {
  std::string text = readKeyFile(path);
  std::string line = keyLine(text);
  OPENSSL_cleanse(text.data(), text.size());
  constexpr std::size_t kEncoded = 4 * ((NetworkKey::kSize + 2) / 3);  // 44, one '=' of padding
  std::array<unsigned char, kEncoded> raw{};
  bool ok = line.size() == kEncoded && line.back() == '=' && line[kEncoded - 2] != '=' &&
            EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(line.data()),
                            static_cast<int>(line.size())) == static_cast<int>(kEncoded / 4 * 3);
  OPENSSL_cleanse(line.data(), line.size());
  if (!ok) {
    OPENSSL_cleanse(raw.data(), raw.size());
    throw CryptoError("network key " + path.string() +
                      " does not hold one line of base64 with 32 bytes; make one with "
                      "`vpnpeer network-key new FILE`");
  }
  NetworkKey key(NetworkKey::Source::kFile, std::span<const std::uint8_t>(raw).first(NetworkKey::kSize));
  OPENSSL_cleanse(raw.data(), raw.size());
  return key;
}

NetworkKey networkKeyFromCa(const std::filesystem::path& ca_pem) {
  internal::X509Ptr cert = internal::loadCertificate(ca_pem, "CA certificate");
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len <= 0) {
    throw CryptoError("cannot encode CA certificate " + ca_pem.string());
  }
  NetworkKey key(NetworkKey::Source::kCa,
                 std::span<const std::uint8_t>(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return key;
}

std::optional<NetworkKey> loadNetworkKey(bool from_ca, const std::filesystem::path& file,
                                         const std::filesystem::path& ca_pem) {
  if (from_ca) {
    return networkKeyFromCa(ca_pem);
  }
  if (!file.empty()) {
    return readNetworkKeyFile(file);
  }
  return std::nullopt;
}

}  // namespace vpn::crypto
