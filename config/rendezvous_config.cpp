// rendezvous.toml: one pass that reads each key with its position and checks its meaning. The
// peer file's two-pass reader stays untouched; this file follows its message style.
#include "config/rendezvous_config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <sstream>
#include <tuple>

#include "config/peer_config.hpp"  // normalizeFingerprint
#include "config/suggest.hpp"
#include "config/text_util.hpp"

namespace vpn::config {
namespace {

using detail::contains;

constexpr std::string_view kRootTables[] = {"rendezvous", "relay", "pki", "metrics"};
constexpr std::string_view kKeys[] = {
    "listen",         "tcp_listen",     "tcp_tls",         "alt_port",
    "alt_address",    "ca",             "cert",            "key",            "network_key",    "user",
    "refresh",        "log_level",      "control_socket",  "handshake_rate",
    "handshake_burst", "lookup_rate",   "lookup_burst",    "max_pending_handshakes",
    "handshake_network_rate", "handshake_network_burst", "handshake_global_rate",
    "handshake_global_burst", "tcp_max_connections", "tcp_max_per_source", "tcp_unused_timeout",
    "offloads", "cookieless_rate", "cookieless_burst"};
constexpr std::string_view kOffloads[] = {"udp-gso", "udp-gro"};
constexpr std::string_view kBlocklistKey = "blocklist";
constexpr std::string_view kListenKey = "listen";
constexpr std::string_view kRelayKeys[] = {"enabled",   "rate",       "burst",      "max_channels",
                                           "max_bytes", "total_rate", "total_burst"};
constexpr std::size_t kMaxListen = 32;
constexpr std::int64_t kMaxInt = INT64_MAX;
constexpr std::string_view kLevels[] = {"debug", "info", "warn", "error"};
constexpr std::size_t kMaxFileSize = 1 << 20;

struct Pos {
  int line = 0;
  int column = 0;
};

int clampIndex(toml::source_index v) {
  return v > 0x7fffffffu ? 0x7fffffff : static_cast<int>(v);
}

Pos posOf(const toml::source_region& r) {
  return Pos{clampIndex(r.begin.line), clampIndex(r.begin.column)};
}

std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      break;
  }
  return "a date or time";
}

class Reader {
 public:
  Reader(std::string file, std::filesystem::path base, std::vector<ConfigError>& errors)
      : file_(std::move(file)), base_(std::move(base)), errors_(errors) {}

  RendezvousConfig read(std::string_view text) {
    RendezvousConfig cfg;
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(file_));
    } catch (const toml::parse_error& e) {
      error(posOf(e.source()), "", std::string(e.description()));
      return cfg;
    }
    for (auto&& [k, v] : root) {
      if (contains(kRootTables, k.str())) {
        continue;
      }
      std::string msg = v.is_table() ? "unknown table" : "unknown key";
      const char* section = contains(kKeys, k.str())        ? "rendezvous"
                            : contains(kRelayKeys, k.str()) ? "relay"
                                                            : nullptr;
      msg += (!v.is_table() && section != nullptr)
                 ? " ('" + std::string(k.str()) + "' belongs in the [" + section + "] section)"
                 : didYouMean(k.str(), kRootTables);
      error(posOf(k.source()), std::string(k.str()), msg);
    }
    const toml::node* node = root.get("rendezvous");
    if (node == nullptr) {
      error(Pos{1, 1}, "rendezvous", "missing required table [rendezvous]");
      return cfg;
    }
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      error(posOf(node->source()), "rendezvous",
            "expected a table ([rendezvous]), got " + describe(*node));
      return cfg;
    }
    table_pos_ = posOf(t->source());
    for (auto&& [k, v] : *t) {
      if (std::find(std::begin(kKeys), std::end(kKeys), k.str()) == std::end(kKeys)) {
        error(posOf(k.source()), "rendezvous." + std::string(k.str()),
              std::string(v.is_table() ? "unknown table" : "unknown key") +
                  didYouMean(k.str(), kKeys));
      }
    }
    cfg.listen = endpoints(*t, "listen", true);
    cfg.tcp_listen = endpoints(*t, "tcp_listen", false);
    cfg.tcp_listen_default = t->get("tcp_listen") == nullptr;
    if (auto b = boolean(*t, "tcp_tls")) {
      cfg.tcp_tls = *b;
    }
    readAlternates(*t, cfg);
    cfg.ca = path(*t, "ca", true).value_or("");
    cfg.cert = path(*t, "cert", true).value_or("");
    cfg.key = path(*t, "key", true).value_or("");
    if (auto u = string(*t, "user", false)) {
      if (u->empty() || u->size() > 32) {
        error(pos_, "rendezvous.user", "must be a user name of 1 to 32 characters");
      } else {
        cfg.user = *u;
      }
    }
    if (auto s = string(*t, "network_key", false); s && *s == "ca") {
      cfg.network_key_from_ca = true;
    } else {
      cfg.network_key_file = path(*t, "network_key", false).value_or("");
    }
    cfg.control_socket = path(*t, "control_socket", false);
    readOffloads(*t, cfg);
    if (auto r = integer(*t, "refresh", 5, 3600)) {
      cfg.refresh = std::chrono::seconds(*r);
    }
    if (auto s = string(*t, "log_level", false)) {
      if (std::find(std::begin(kLevels), std::end(kLevels), *s) == std::end(kLevels)) {
        error(pos_, "rendezvous.log_level",
              "expected debug, info, warn or error, got '" + *s + "'" + didYouMean(*s, kLevels));
      } else {
        cfg.log_level = *s;
      }
    }
    if (auto v = integer(*t, "handshake_rate", 1, 1000000)) {
      cfg.handshake_rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "handshake_burst", 1, 1000000)) {
      cfg.handshake_burst = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "handshake_network_rate", 1, 1000000)) {
      cfg.handshake_network_rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "handshake_network_burst", 1, 1000000)) {
      cfg.handshake_network_burst = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "handshake_global_rate", 1, 1000000)) {
      cfg.handshake_global_rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "handshake_global_burst", 1, 1000000)) {
      cfg.handshake_global_burst = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "cookieless_rate", 0, 1000000)) {
      cfg.cookieless_rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "cookieless_burst", 1, 1000000)) {
      cfg.cookieless_burst = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "lookup_rate", 1, 1000000)) {
      cfg.lookup_rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "lookup_burst", 1, 1000000)) {
      cfg.lookup_burst = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "max_pending_handshakes", 1, 1000000)) {
      cfg.max_pending_handshakes = static_cast<std::size_t>(*v);
    }
    if (auto v = integer(*t, "tcp_max_connections", 1, 1000000)) {
      cfg.tcp_max_connections = static_cast<std::size_t>(*v);
    }
    if (auto v = integer(*t, "tcp_max_per_source", 1, 1000000)) {
      cfg.tcp_max_per_source = static_cast<std::size_t>(*v);
    }
    if (auto v = integer(*t, "tcp_unused_timeout", 1, 3600)) {
      cfg.tcp_unused_timeout = std::chrono::seconds(*v);
    }
    readRelay(root, cfg.relay);
    readPki(root, cfg.blocklist);
    readMetrics(root, cfg.metrics_listen);
    return cfg;
  }

 private:
  void error(Pos p, std::string key, std::string message) {
    errors_.push_back(ConfigError{file_, p.line, p.column, std::move(key), std::move(message)});
  }

  const toml::node* get(const toml::table& t, std::string_view key, bool required) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) {
        error(table_pos_, keyPath(key), "missing required key");
      }
      pos_ = table_pos_;
      return nullptr;
    }
    pos_ = posOf(n->source());
    return n;
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key, bool required) {
    const toml::node* n = get(t, key, required);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (const auto* s = n->as_string()) {
      return s->get();
    }
    error(pos_, keyPath(key), "expected a string, got " + describe(*n));
    return std::nullopt;
  }

  std::optional<std::filesystem::path> path(const toml::table& t, std::string_view key,
                                            bool required) {
    auto s = string(t, key, required);
    if (!s) {
      return std::nullopt;
    }
    if (s->empty()) {
      error(pos_, keyPath(key), "must not be empty");
      return std::nullopt;
    }
    std::filesystem::path p(*s);
    return p.is_absolute() ? p : base_ / p;
  }

  std::optional<std::int64_t> integer(const toml::table& t, std::string_view key,
                                      std::int64_t min, std::int64_t max) {
    const toml::node* n = get(t, key, false);
    if (n == nullptr) {
      return std::nullopt;
    }
    const auto* i = n->as_integer();
    if (i == nullptr) {
      error(pos_, keyPath(key), "expected an integer, got " + describe(*n));
      return std::nullopt;
    }
    if (i->get() < min || i->get() > max) {
      std::string range = max == kMaxInt ? "must be at least " + std::to_string(min)
                                         : "must be between " + std::to_string(min) + " and " +
                                               std::to_string(max);
      error(pos_, keyPath(key), range + ", got " + std::to_string(i->get()));
      return std::nullopt;
    }
    return i->get();
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key) {
    const toml::node* n = get(t, key, false);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (const auto* b = n->as_boolean()) {
      return b->get();
    }
    error(pos_, keyPath(key), "expected a boolean (true or false), got " + describe(*n));
    return std::nullopt;
  }

  std::string keyPath(std::string_view key) const {
    return std::string(section_) + "." + std::string(key);
  }

  void readRelay(const toml::table& root, RendezvousConfig::RelaySettings& relay) {
    const toml::node* node = root.get("relay");
    if (node == nullptr) {
      return;
    }
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      error(posOf(node->source()), "relay", "expected a table ([relay]), got " + describe(*node));
      return;
    }
    section_ = "relay";
    table_pos_ = posOf(t->source());
    for (auto&& [k, v] : *t) {
      if (!contains(kRelayKeys, k.str())) {
        error(posOf(k.source()), "relay." + std::string(k.str()),
              std::string(v.is_table() ? "unknown table" : "unknown key") +
                  didYouMean(k.str(), kRelayKeys));
      }
    }
    if (auto b = boolean(*t, "enabled")) {
      relay.enabled = *b;
    }
    if (auto v = integer(*t, "max_channels", 1, 65535)) {
      relay.max_channels = static_cast<std::size_t>(*v);
    }
    if (auto v = integer(*t, "rate", 1000, kMaxInt)) {
      relay.rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "burst", 65536, kMaxInt)) {
      relay.burst = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "max_bytes", 0, kMaxInt)) {
      relay.max_bytes = static_cast<std::uint64_t>(*v);
    }
    if (auto v = integer(*t, "total_rate", 1000, kMaxInt)) {
      relay.total_rate = static_cast<double>(*v);
    }
    if (auto v = integer(*t, "total_burst", 65536, kMaxInt)) {
      relay.total_burst = static_cast<double>(*v);
    }
  }

  // [metrics] listen = "address:port"
  void readMetrics(const toml::table& root, std::optional<protocol::Endpoint>& out) {
    const toml::node* node = root.get("metrics");
    if (node == nullptr) {
      return;
    }
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      error(posOf(node->source()), "metrics", "expected a table ([metrics]), got " + describe(*node));
      return;
    }
    section_ = "metrics";
    table_pos_ = posOf(t->source());
    for (auto&& [k, v] : *t) {
      if (k.str() != "listen") {
        error(posOf(k.source()), "metrics." + std::string(k.str()),
              std::string(v.is_table() ? "unknown table" : "unknown key") +
                  didYouMean(k.str(), std::span<const std::string_view>(&kListenKey, 1)));
      }
    }
    auto s = string(*t, "listen", true);
    if (!s) {
      return;
    }
    auto ep = protocol::Endpoint::parse(*s);
    if (!ep || ep->port() == 0) {
      error(pos_, "metrics.listen",
            "expected address:port such as \"127.0.0.1:9477\", got '" + *s + "'");
      return;
    }
    out = *ep;
  }

  // offloads = ["udp-gso", "udp-gro"]: a list replaces the default (both); [] turns them off.
  void readOffloads(const toml::table& t, RendezvousConfig& cfg) {
    const toml::node* n = get(t, "offloads", false);
    if (n == nullptr) {
      return;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      error(pos_, "rendezvous.offloads", "expected an array of offload names, got " + describe(*n));
      return;
    }
    cfg.udp_gso = cfg.udp_gro = false;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node* item = arr->get(i);
      const auto* s = item->as_string();
      const std::string name = s != nullptr ? s->get() : std::string();
      if (name == "udp-gso") {
        cfg.udp_gso = true;
      } else if (name == "udp-gro") {
        cfg.udp_gro = true;
      } else {
        error(posOf(item->source()), "rendezvous.offloads[" + std::to_string(i) + "]",
              "'" + name + "' is not an offload; use any of udp-gso, udp-gro" +
                  didYouMean(name, kOffloads));
      }
    }
  }

  // [pki] blocklist = ["<sha256 fingerprint>", ...]
  void readPki(const toml::table& root, std::vector<std::string>& blocklist) {
    const toml::node* node = root.get("pki");
    if (node == nullptr) {
      return;
    }
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      error(posOf(node->source()), "pki", "expected a table ([pki]), got " + describe(*node));
      return;
    }
    section_ = "pki";
    table_pos_ = posOf(t->source());
    for (auto&& [k, v] : *t) {
      if (k.str() != "blocklist") {
        error(posOf(k.source()), "pki." + std::string(k.str()),
              std::string(v.is_table() ? "unknown table" : "unknown key") +
                  didYouMean(k.str(), std::span<const std::string_view>(&kBlocklistKey, 1)));
      }
    }
    const toml::node* n = get(*t, "blocklist", false);
    if (n == nullptr) {
      return;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      error(pos_, "pki.blocklist", "expected an array of fingerprints, got " + describe(*n));
      return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node* item = arr->get(i);
      const auto* s = item->as_string();
      auto fp = s != nullptr ? normalizeFingerprint(s->get()) : std::nullopt;
      if (!fp) {
        error(posOf(item->source()), "pki.blocklist[" + std::to_string(i) + "]",
              "not a certificate fingerprint: 64 hex digits, as `vpnpeer cert show` prints after "
              "sha256:");
        continue;
      }
      blocklist.push_back(*fp);
    }
  }

  // "listen" or "tcp_listen": an address:port string or a list of them.
  std::vector<protocol::Endpoint> endpoints(const toml::table& t, std::string_view name,
                                            bool required) {
    std::vector<protocol::Endpoint> out;
    const toml::node* n = get(t, name, required);
    if (n == nullptr) {
      return out;
    }
    std::string key_path = keyPath(name);
    std::vector<std::pair<const toml::node*, std::string>> items;
    if (n->is_string()) {
      items.emplace_back(n, key_path);
    } else if (const toml::array* arr = n->as_array()) {
      for (std::size_t i = 0; i < arr->size(); ++i) {
        items.emplace_back(arr->get(i), key_path + "[" + std::to_string(i) + "]");
      }
      if (arr->empty() && name == "listen") {
        error(pos_, key_path, "needs at least one address:port");
      }
    } else {
      error(pos_, key_path, "expected a string or an array of strings, got " + describe(*n));
      return out;
    }
    const bool tcp = name == "tcp_listen";
    const char* example = tcp ? "\"0.0.0.0:443\" or \"[::]:443\""
                              : "\"0.0.0.0:3478\" or \"[::]:3478\"";
    for (const auto& [node, key] : items) {
      Pos p = posOf(node->source());
      const auto* s = node->as_string();
      if (s == nullptr) {
        error(p, key, "expected a string, got " + describe(*node));
        continue;
      }
      auto ep = protocol::Endpoint::parse(s->get());
      if (!ep) {
        error(p, key,
              std::string("expected address:port such as ") + example + ", got '" + s->get() +
                  "'");
        continue;
      }
      if (tcp && ep->port() == 0) {
        error(p, key, "port 0 is not allowed; peers need a fixed port to reach the TCP listener");
        continue;
      }
      if (std::find(out.begin(), out.end(), *ep) != out.end()) {
        error(p, key, "listed twice: " + ep->toString());
        continue;
      }
      if (out.size() >= kMaxListen) {
        error(p, key, "at most 32 listen sockets");
        continue;
      }
      out.push_back(*ep);
    }
    return out;
  }

  void readAlternates(const toml::table& t, RendezvousConfig& cfg) {
    if (auto port = integer(t, "alt_port", 1, 65535)) {
      cfg.alt_port = static_cast<std::uint16_t>(*port);
      if (!cfg.listen.empty() && cfg.listen.front().port() == cfg.alt_port) {
        error(pos_, "rendezvous.alt_port", "must differ from the listen port " +
                                               std::to_string(cfg.listen.front().port()));
      }
    }
    auto text = string(t, "alt_address", false);
    if (!text) {
      return;
    }
    Pos p = pos_;
    auto addr = protocol::IpAddress::parse(*text);
    if (!addr || addr->isUnspecified()) {
      error(p, "rendezvous.alt_address",
            "expected a specific IP address of this host, got '" + *text + "'");
      return;
    }
    // "Change IP" answers from a second address, and RESPONSE-ORIGIN/OTHER-ADDRESS must name
    // both: the primary has to be a specific address of the same family, not a wildcard.
    for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
      const auto& l = cfg.listen[i].address();
      if (l.family() == addr->family() && !l.isUnspecified()) {
        if (l == *addr) {
          error(p, "rendezvous.alt_address", "must differ from the listen address " +
                                                 l.toString());
          return;
        }
        cfg.alt_address = *addr;
        cfg.stun_listen = i;
        return;
      }
    }
    if (!cfg.listen.empty()) {
      error(p, "rendezvous.alt_address",
            "needs a listen entry with a specific " +
                std::string(addr->isV4() ? "IPv4" : "IPv6") +
                " address (e.g. \"203.0.113.1:3478\", not \"0.0.0.0:3478\"): STUN \"change IP\" "
                "answers from the alternate address and names the primary one");
    }
  }

  std::string file_;
  std::filesystem::path base_;
  std::vector<ConfigError>& errors_;
  std::string_view section_ = "rendezvous";  // the table being read, for key paths
  Pos table_pos_{1, 1};
  Pos pos_{};
};

RendezvousConfigResult finish(RendezvousConfig cfg, std::vector<ConfigError> errors,
                              std::filesystem::path source) {
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return err(std::move(errors));
  }
  cfg.source = std::move(source);
  return cfg;
}

}  // namespace

RendezvousConfigResult parseRendezvousConfig(std::string_view toml_text,
                                             const std::filesystem::path& source) {
  std::vector<ConfigError> errors;
  Reader reader(source.string(), source.parent_path(), errors);
  RendezvousConfig cfg = reader.read(toml_text);
  return finish(std::move(cfg), std::move(errors), source);
}

RendezvousConfigResult loadRendezvousConfig(const std::filesystem::path& file) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(file, ec);
  if (ec) {
    abs = file;
  }
  std::ifstream in(abs, std::ios::binary);
  if (!in || std::filesystem::is_directory(abs, ec)) {
    std::string why = std::filesystem::exists(abs, ec) ? "permission denied or not a file"
                                                       : "No such file or directory";
    return err(std::vector<ConfigError>{
        ConfigError{file.string(), 0, 0, "", "cannot read " + file.string() + ": " + why}});
  }
  std::string text;
  text.resize(kMaxFileSize + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileSize) {
    return err(std::vector<ConfigError>{
        ConfigError{file.string(), 0, 0, "", file.string() + " is larger than 1 MiB"}});
  }
  std::vector<ConfigError> errors;
  Reader reader(file.string(), abs.parent_path(), errors);
  RendezvousConfig cfg = reader.read(text);
  return finish(std::move(cfg), std::move(errors), abs);
}

}  // namespace vpn::config
