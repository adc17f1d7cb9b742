// Files on disk, and inputs that must produce errors rather than crashes.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/load.hpp"
#include "tests/unit/config/test_util.hpp"

namespace vpn::config {
namespace {

namespace fs = std::filesystem;
using test::kBase;
using test::withBase;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "vpn_config_test.XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, std::string_view content) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

TEST(LoadPeerConfig, ReadsAndResolvesAgainstTheFilesFolder) {
  TempDir dir;
  fs::path file = dir.write("alice.toml", kBase);
  auto r = loadPeerConfig(file);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->source, file);
  EXPECT_EQ(r->ca, dir.path() / "ca.crt");
  EXPECT_EQ(r->cert, dir.path() / "alice.crt");
  EXPECT_EQ(r->key, dir.path() / "alice.key");
  EXPECT_TRUE(r->key.is_absolute());
}

TEST(LoadPeerConfig, ErrorsNameTheFileAsGiven) {
  TempDir dir;
  fs::path file = dir.write("alice.toml", withBase("[tun]\nmtu = 1\n"));
  auto r = loadPeerConfig(file);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(r.error()[0].toString(), file.string() + ":9:7: tun.mtu: 1 is out of range 576..9000");
}

TEST(LoadPeerConfig, MissingFileIsOneError) {
  TempDir dir;
  fs::path file = dir.path() / "nope.toml";
  auto r = loadPeerConfig(file);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(r.error()[0].toString(), file.string() + ": cannot read " + file.string() +
                                         ": No such file or directory");
  EXPECT_EQ(r.error()[0].line, 0);
}

TEST(LoadPeerConfig, DirectoryIsOneError) {
  TempDir dir;
  auto r = loadPeerConfig(dir.path());
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(r.error()[0].message, "cannot read " + dir.path().string() + ": Is a directory");
}

TEST(CheckFiles, ReportsEachUnreadableFileWithItsKey) {
  TempDir dir;
  dir.write("ca.crt", "x");
  dir.write("alice.crt", "x");
  fs::path file = dir.write("alice.toml", kBase);
  auto r = loadPeerConfig(file);
  ASSERT_TRUE(r.ok());
  auto errors = checkFiles(*r);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "peer.key");
  EXPECT_EQ(errors[0].toString(), file.string() + ": peer.key: cannot read " +
                                      (dir.path() / "alice.key").string() +
                                      ": No such file or directory");

  dir.write("alice.key", "x");
  EXPECT_TRUE(checkFiles(*r).empty());
}

// checkFiles as an unprivileged user. As root (CI), the check runs in a child that drops to
// "nobody", since root can read any file; the child reports the messages through a pipe.
std::string checkFilesUnprivileged(const PeerConfig& cfg) {
  auto messages = [&cfg] {
    std::string out;
    for (const auto& e : checkFiles(cfg)) {
      out += e.message + "\n";
    }
    return out;
  };
  if (::geteuid() != 0) {
    return messages();
  }
  int fds[2];
  if (::pipe(fds) != 0) {
    return "pipe failed";
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int rc = 0;
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      rc = 3;
    } else {
      std::string out = messages();
      rc = ::write(fds[1], out.data(), out.size()) == static_cast<ssize_t>(out.size()) ? 0 : 4;
    }
    ::_exit(rc);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child failed with status " + std::to_string(status);
  }
  return out;
}

TEST(CheckFiles, PermissionDenied) {
  TempDir dir;
  // The unprivileged child must be able to reach the files that are meant to be readable.
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  for (const char* name : {"ca.crt", "alice.crt"}) {
    fs::permissions(dir.write(name, "x"), fs::perms::owner_read | fs::perms::owner_write |
                                              fs::perms::group_read | fs::perms::others_read);
  }
  fs::path key = dir.write("alice.key", "x");
  fs::permissions(key, fs::perms::none);
  auto r = loadPeerConfig(dir.write("alice.toml", kBase));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(checkFilesUnprivileged(*r), "cannot read " + key.string() + ": Permission denied\n");
}

TEST(CheckFiles, DirectoryInsteadOfFile) {
  TempDir dir;
  dir.write("alice.crt", "x");
  dir.write("alice.key", "x");
  fs::create_directory(dir.path() / "ca.crt");
  auto r = loadPeerConfig(dir.write("alice.toml", kBase));
  ASSERT_TRUE(r.ok());
  auto errors = checkFiles(*r);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "peer.ca");
  EXPECT_NE(errors[0].message.find("Is a directory"), std::string::npos);
}

void expectWellFormedErrors(const ConfigResult& r, std::string_view input) {
  if (r.ok()) {
    return;
  }
  ASSERT_FALSE(r.error().empty());
  for (const ConfigError& e : r.error()) {
    EXPECT_EQ(e.file, "fuzz.toml");
    EXPECT_FALSE(e.message.empty()) << "input size " << input.size();
    EXPECT_GE(e.line, 0);
    EXPECT_GE(e.column, 0);
  }
}

const std::string kFullFile = withBase(
    "log_level = \"debug\"\n[tun]\nname = \"vpn0\"\nmtu = 1400\n[tunnel]\ncipher = \"auto\"\n"
    "keepalive = 10\nrekey = 120\ndead_peer = 40\n[[peers]]\nname = \"bob\"\n"
    "endpoint = \"192.0.2.7:51820\"\n[[peers]]\nname = \"carol\"\n");

TEST(Robustness, EveryTruncationOfAValidFile) {
  ASSERT_TRUE(parsePeerConfig(kFullFile, "fuzz.toml").ok());
  std::size_t last_required = kBase.size() - 1;  // before the newline ending "key = ..."
  for (std::size_t n = 0; n < kFullFile.size(); ++n) {
    std::string_view cut(kFullFile.data(), n);
    auto r = parsePeerConfig(cut, "fuzz.toml");
    if (n < last_required) {
      EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    }
    expectWellFormedErrors(r, cut);
  }
}

TEST(Robustness, RandomBytes) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) {
      c = static_cast<char>(rng() & 0xff);
    }
    auto r = parsePeerConfig(junk, "fuzz.toml");
    EXPECT_FALSE(r.ok());
    expectWellFormedErrors(r, junk);
  }
}

TEST(Robustness, RandomMutationsOfAValidFile) {
  std::mt19937 rng(777);
  const std::string alphabet = "[]{}=\"'.,#\n\\ 0123456789:/-_aeiounxzAEZ\t\x01\xc3\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string text = kFullFile;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % text.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(at, 1, c);
          break;
        default:
          text.erase(at, 1);
          break;
      }
    }
    expectWellFormedErrors(parsePeerConfig(text, "fuzz.toml"), text);
  }
}

TEST(Robustness, DeepNestingAndHugeValues) {
  for (std::string open : {"[", "{a="}) {
    std::string text = "a = ";
    for (int i = 0; i < 100000; ++i) {
      text += open;
    }
    auto r = parsePeerConfig(text, "fuzz.toml");
    EXPECT_FALSE(r.ok());
    expectWellFormedErrors(r, text);
  }
  auto big = parsePeerConfig(withBase("[tun]\nmtu = 99999999999999999999999\n"), "fuzz.toml");
  EXPECT_FALSE(big.ok());
  auto neg = parsePeerConfig(withBase("[tunnel]\nkeepalive = -9223372036854775808\n"), "fuzz.toml");
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.error()[0].message, "-9223372036854775808 is out of range 1..3600 seconds");
  std::string nul_inside = std::string(kBase) + std::string("x = \"\0\"\n", 8);
  EXPECT_FALSE(parsePeerConfig(nul_inside, "fuzz.toml").ok());
}

}  // namespace
}  // namespace vpn::config
