// The structural pass: TOML syntax, table layout, key names and value types. The only file that
// includes toml++; everything it learns goes into a std-only RawPeerFile.
#include <toml++/toml.h>

#include <span>

#include "config/raw_peer_file.hpp"
#include "config/suggest.hpp"
#include "config/text_util.hpp"

namespace vpn::config::detail {

namespace {

int clampIndex(toml::source_index v) {
  return v > 0x7fffffffu ? 0x7fffffff : static_cast<int>(v);
}

Pos posOf(const toml::source_region& r) {
  return Pos{clampIndex(r.begin.line), clampIndex(r.begin.column)};
}

bool isBareKey(std::string_view k) {
  if (k.empty()) {
    return false;
  }
  for (char c : k) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// Keys are printed the way TOML would need them written: bare when possible, else quoted.
std::string displayKey(std::string_view k) {
  if (isBareKey(k)) {
    return std::string(k);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : k) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string joinPath(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? displayKey(key) : prefix + "." + displayKey(key);
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
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return n.is_array_of_tables() ? "an array of tables" : "an array";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

class Reader {
 public:
  Reader(const std::string& file, std::vector<ConfigError>& errors)
      : file_(file), errors_(errors) {}

  RawPeerFile read(std::string_view text) {
    RawPeerFile out;
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(file_));
    } catch (const toml::parse_error& e) {
      error(posOf(e.source()), "", std::string(e.description()));
      return out;
    }
    Pos root_pos = posOf(root.source());
    if (root_pos.line == 0) {
      root_pos = Pos{1, 1};
    }
    checkRootKeys(root);
    if (const toml::table* peer = table(root, "peer", root_pos, true)) {
      readPeer(*peer, out);
    }
    if (const toml::table* tun = table(root, "tun", root_pos, false)) {
      Pos p = posOf(tun->source());
      checkKeys(*tun, "tun", kTunKeys);
      out.tun_name = string(*tun, p, "tun", "name", false);
      out.mtu = integer(*tun, p, "tun", "mtu");
    }
    if (const toml::table* tunnel = table(root, "tunnel", root_pos, false)) {
      Pos p = posOf(tunnel->source());
      checkKeys(*tunnel, "tunnel", kTunnelKeys);
      out.cipher = string(*tunnel, p, "tunnel", "cipher", false);
      out.offloads = stringList(*tunnel, p, "tunnel", "offloads", false);
      out.keepalive = integer(*tunnel, p, "tunnel", "keepalive");
      out.rekey = integer(*tunnel, p, "tunnel", "rekey");
      out.rehandshake = integer(*tunnel, p, "tunnel", "rehandshake");
      out.dead_peer = integer(*tunnel, p, "tunnel", "dead_peer");
      out.cert_expiry_warning_days = integer(*tunnel, p, "tunnel", "cert_expiry_warning_days");
      out.workers = integer(*tunnel, p, "tunnel", "workers");
    }
    readPeers(root, out);
    readRendezvous(root, out);
    if (const toml::table* paths = table(root, "paths", root_pos, false)) {
      Pos p = posOf(paths->source());
      checkKeys(*paths, "paths", kPathsKeys);
      out.relay = boolean(*paths, p, "paths", "relay");
      out.relay_after = seconds(*paths, p, "paths", "relay_after");
      out.demote_after = seconds(*paths, p, "paths", "demote_after");
      out.udp_timeout = seconds(*paths, p, "paths", "udp_timeout");
      out.pmtu_discovery = boolean(*paths, p, "paths", "pmtu_discovery");
    }
    if (const toml::table* nat = table(root, "nat", root_pos, false)) {
      Pos p = posOf(nat->source());
      checkKeys(*nat, "nat", kNatKeys);
      out.port_mapping = boolean(*nat, p, "nat", "port_mapping");
      out.learn_keepalive = boolean(*nat, p, "nat", "learn_keepalive");
      out.port_prediction = boolean(*nat, p, "nat", "port_prediction");
      out.prediction_sockets = integer(*nat, p, "nat", "prediction_sockets");
      out.prediction_probes = integer(*nat, p, "nat", "prediction_probes");
      out.prediction_rate = integer(*nat, p, "nat", "prediction_rate");
    }
    if (const toml::table* m = table(root, "metrics", root_pos, false)) {
      Pos p = posOf(m->source());
      checkKeys(*m, "metrics", kMetricsKeys);
      out.metrics_listen = string(*m, p, "metrics", "listen", true);
    }
    if (const toml::table* pki = table(root, "pki", root_pos, false)) {
      Pos p = posOf(pki->source());
      checkKeys(*pki, "pki", kPkiKeys);
      out.blocklist = stringList(*pki, p, "pki", "blocklist", false);
    }
    return out;
  }

 private:
  void error(Pos pos, std::string key_path, std::string message) {
    errors_.push_back(ConfigError{file_, pos.line, pos.column, std::move(key_path),
                                  std::move(message)});
  }

  static const char* unknownWhat(const toml::node& value) {
    return (value.is_table() || value.is_array_of_tables()) ? "unknown table" : "unknown key";
  }

  void checkRootKeys(const toml::table& root) {
    for (auto&& [k, v] : root) {
      if (contains(kRootTables, k.str())) {
        continue;
      }
      // A key written above the first [section] header lands at the top level; saying where it
      // belongs helps more than a near-miss table name ("mtu" is one edit from "tun").
      std::string message = unknownWhat(v);
      const std::pair<std::span<const std::string_view>, const char*> sections[] = {
          {kPeerKeys, "peer"}, {kTunKeys, "tun"}, {kTunnelKeys, "tunnel"}, {kPathsKeys, "paths"},
          {kNatKeys, "nat"}};
      for (const auto& [keys, section] : sections) {
        if (!v.is_table() && contains(keys, k.str())) {
          message += std::string(" ('") + std::string(k.str()) + "' belongs in the [" + section +
                     "] section)";
          break;
        }
      }
      if (message == unknownWhat(v)) {
        message += didYouMean(k.str(), kRootTables);
      }
      error(posOf(k.source()), joinPath("", k.str()), std::move(message));
    }
  }

  void checkKeys(const toml::table& t, const std::string& prefix,
                 std::span<const std::string_view> known) {
    for (auto&& [k, v] : t) {
      if (contains(known, k.str())) {
        continue;
      }
      error(posOf(k.source()), joinPath(prefix, k.str()),
            unknownWhat(v) + didYouMean(k.str(), known));
    }
  }

  const toml::table* table(const toml::table& root, std::string_view name, Pos root_pos,
                           bool required) {
    const toml::node* n = root.get(name);
    if (n == nullptr) {
      if (required) {
        error(root_pos, std::string(name), "missing required table [" + std::string(name) + "]");
      }
      return nullptr;
    }
    const toml::table* t = n->as_table();
    if (t == nullptr) {
      error(posOf(n->source()), std::string(name),
            "expected a table ([" + std::string(name) + "]), got " + describe(*n));
      return nullptr;
    }
    return t;
  }

  void readPeer(const toml::table& peer, RawPeerFile& out) {
    Pos p = posOf(peer.source());
    checkKeys(peer, "peer", kPeerKeys);
    out.name = string(peer, p, "peer", "name", true);
    out.address = stringList(peer, p, "peer", "address", true);
    out.listen = string(peer, p, "peer", "listen", true);
    out.tcp_listen = boolean(peer, p, "peer", "tcp_listen");
    out.tcp_advertise = stringList(peer, p, "peer", "tcp_advertise", false);
    out.ca = string(peer, p, "peer", "ca", true);
    out.cert = string(peer, p, "peer", "cert", true);
    out.key = string(peer, p, "peer", "key", true);
    out.network_key = string(peer, p, "peer", "network_key", false);
    out.user = string(peer, p, "peer", "user", false);
    out.log_level = string(peer, p, "peer", "log_level", false);
    out.control_socket = string(peer, p, "peer", "control_socket", false);
  }

  void readPeers(const toml::table& root, RawPeerFile& out) {
    const toml::node* n = root.get("peers");
    if (n == nullptr) {
      return;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      error(posOf(n->source()), "peers",
            "expected an array of tables ([[peers]]), got " + describe(*n));
      return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& elem = *arr->get(i);
      std::string path = "peers[" + std::to_string(i) + "]";
      const toml::table* t = elem.as_table();
      if (t == nullptr) {
        error(posOf(elem.source()), path, "expected a table, got " + describe(elem));
        continue;
      }
      RawPeerEntry entry;
      entry.key_path = path;
      entry.pos = posOf(t->source());
      checkKeys(*t, path, kPeersKeys);
      entry.name = string(*t, entry.pos, path, "name", true);
      entry.endpoint = string(*t, entry.pos, path, "endpoint", false);
      out.peers.push_back(std::move(entry));
    }
  }

  void readRendezvous(const toml::table& root, RawPeerFile& out) {
    const toml::node* n = root.get("rendezvous");
    if (n == nullptr) {
      return;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      error(posOf(n->source()), "rendezvous",
            "expected an array of tables ([[rendezvous]]), got " + describe(*n));
      return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& elem = *arr->get(i);
      std::string path = "rendezvous[" + std::to_string(i) + "]";
      const toml::table* t = elem.as_table();
      if (t == nullptr) {
        error(posOf(elem.source()), path, "expected a table, got " + describe(elem));
        continue;
      }
      RawRendezvousEntry entry;
      entry.key_path = path;
      entry.pos = posOf(t->source());
      checkKeys(*t, path, kRendezvousKeys);
      entry.address = string(*t, entry.pos, path, "address", true);
      if (const toml::node* tcp = t->get("tcp"); tcp == nullptr || tcp->is_string()) {
        entry.tcp = string(*t, entry.pos, path, "tcp", false);
      } else if (tcp->is_boolean()) {
        entry.tcp_enabled = boolean(*t, entry.pos, path, "tcp");
      } else {
        error(posOf(tcp->source()), path + ".tcp",
              "expected \"host:port\" or false (no TCP fallback), got " + describe(*tcp));
      }
      entry.tls = boolean(*t, entry.pos, path, "tls");
      entry.name = string(*t, entry.pos, path, "name", false);
      out.rendezvous.push_back(std::move(entry));
    }
  }

  Raw<std::string> string(const toml::table& t, Pos table_pos, const std::string& prefix,
                          std::string_view key, bool required) {
    Raw<std::string> out{std::nullopt, table_pos};
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) {
        error(table_pos, joinPath(prefix, key), "missing required key");
      }
      return out;
    }
    out.pos = posOf(n->source());
    if (const auto* s = n->as_string()) {
      out.value = s->get();
    } else {
      error(out.pos, joinPath(prefix, key), "expected a string, got " + describe(*n));
    }
    return out;
  }

  Raw<std::int64_t> integer(const toml::table& t, Pos table_pos, const std::string& prefix,
                            std::string_view key) {
    Raw<std::int64_t> out{std::nullopt, table_pos};
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return out;
    }
    out.pos = posOf(n->source());
    if (const auto* i = n->as_integer()) {
      out.value = i->get();
    } else {
      error(out.pos, joinPath(prefix, key), "expected an integer, got " + describe(*n));
    }
    return out;
  }

  Raw<bool> boolean(const toml::table& t, Pos table_pos, const std::string& prefix,
                    std::string_view key) {
    Raw<bool> out{std::nullopt, table_pos};
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return out;
    }
    out.pos = posOf(n->source());
    if (const auto* b = n->as_boolean()) {
      out.value = b->get();
    } else {
      error(out.pos, joinPath(prefix, key), "expected a boolean (true or false), got " +
                                                describe(*n));
    }
    return out;
  }

  // A duration in seconds: an integer or a floating-point number.
  Raw<RawSeconds> seconds(const toml::table& t, Pos table_pos, const std::string& prefix,
                          std::string_view key) {
    Raw<RawSeconds> out{std::nullopt, table_pos};
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return out;
    }
    out.pos = posOf(n->source());
    if (const auto* i = n->as_integer()) {
      out.value = RawSeconds{static_cast<double>(i->get()), true};
    } else if (const auto* f = n->as_floating_point()) {
      out.value = RawSeconds{f->get(), false};
    } else {
      error(out.pos, joinPath(prefix, key),
            "expected a number of seconds (e.g. 2 or 0.5), got " + describe(*n));
    }
    return out;
  }

  // A string or an array of strings; element key paths are "prefix.key[i]".
  Raw<std::vector<RawAddress>> stringList(const toml::table& t, Pos table_pos,
                                          const std::string& prefix, std::string_view key,
                                          bool required) {
    Raw<std::vector<RawAddress>> out{std::nullopt, table_pos};
    std::string key_path = joinPath(prefix, key);
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) {
        error(table_pos, key_path, "missing required key");
      }
      return out;
    }
    out.pos = posOf(n->source());
    if (const auto* s = n->as_string()) {
      out.value = std::vector<RawAddress>{RawAddress{s->get(), out.pos, key_path}};
      return out;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      error(out.pos, key_path, "expected a string or an array of strings, got " + describe(*n));
      return out;
    }
    std::vector<RawAddress> list;
    bool all_strings = true;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& elem = *arr->get(i);
      std::string path = key_path + "[" + std::to_string(i) + "]";
      if (const auto* s = elem.as_string()) {
        list.push_back(RawAddress{s->get(), posOf(elem.source()), path});
      } else {
        error(posOf(elem.source()), path, "expected a string, got " + describe(elem));
        all_strings = false;
      }
    }
    if (all_strings) {
      out.value = std::move(list);
    }
    return out;
  }

  const std::string& file_;
  std::vector<ConfigError>& errors_;
};

}  // namespace

RawPeerFile readPeerFile(std::string_view toml_text, const std::string& file,
                         std::vector<ConfigError>& errors) {
  return Reader(file, errors).read(toml_text);
}

}  // namespace vpn::config::detail
