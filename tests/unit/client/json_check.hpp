#pragma once
// Test-only: a strict little JSON reader (RFC 8259 syntax; \u escapes kept as text), so renderer
// tests can check that output parses and look fields up by path. Header-only; not for production
// input (recursion depth is bounded at 64, which our outputs never approach).
#include <cctype>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpn::client::test {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  bool has(const std::string& k) const { return kind == Kind::kObject && fields.count(k) != 0; }
  // The field, or a null value when missing (the test then fails on the kind it expects).
  const Json& operator[](const std::string& k) const {
    static const Json missing;
    auto it = fields.find(k);
    return it == fields.end() ? missing : it->second;
  }
  const Json& operator[](std::size_t i) const {
    static const Json missing;
    return i < items.size() ? items[i] : missing;
  }
  bool isNull() const { return kind == Kind::kNull; }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : t_(text) {}

  std::optional<Json> parse() {
    Json v;
    if (!value(v, 0)) {
      return std::nullopt;
    }
    ws();
    if (p_ != t_.size()) {
      return std::nullopt;
    }
    return v;
  }

 private:
  void ws() {
    while (p_ < t_.size() &&
           (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t')) {
      ++p_;
    }
  }
  bool lit(std::string_view w) {
    if (t_.substr(p_, w.size()) != w) {
      return false;
    }
    p_ += w.size();
    return true;
  }
  bool string(std::string& out) {
    if (p_ >= t_.size() || t_[p_] != '"') {
      return false;
    }
    ++p_;
    while (p_ < t_.size()) {
      char c = t_[p_++];
      if (c == '"') {
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return false;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= t_.size()) {
        return false;
      }
      char e = t_[p_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u':
          out += "\\u";
          for (int i = 0; i < 4; ++i) {
            if (p_ >= t_.size() || !std::isxdigit(static_cast<unsigned char>(t_[p_]))) {
              return false;
            }
            out += t_[p_++];
          }
          break;
        default: return false;
      }
    }
    return false;
  }
  bool number(double& out) {
    std::size_t start = p_;
    if (p_ < t_.size() && t_[p_] == '-') {
      ++p_;
    }
    auto digits = [&] {
      std::size_t s = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') {
        ++p_;
      }
      return p_ - s;
    };
    std::size_t int_start = p_;
    std::size_t n = digits();
    if (n == 0 || (n > 1 && t_[int_start] == '0')) {
      return false;
    }
    if (p_ < t_.size() && t_[p_] == '.') {
      ++p_;
      if (digits() == 0) {
        return false;
      }
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      ++p_;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) {
        ++p_;
      }
      if (digits() == 0) {
        return false;
      }
    }
    out = std::stod(std::string(t_.substr(start, p_ - start)));
    return true;
  }
  bool value(Json& v, int depth) {
    if (depth > 64) {
      return false;
    }
    ws();
    if (p_ >= t_.size()) {
      return false;
    }
    char c = t_[p_];
    if (c == '{') {
      ++p_;
      v.kind = Json::Kind::kObject;
      ws();
      if (p_ < t_.size() && t_[p_] == '}') {
        ++p_;
        return true;
      }
      while (true) {
        ws();
        std::string k;
        if (!string(k)) {
          return false;
        }
        ws();
        if (!lit(":")) {
          return false;
        }
        Json item;
        if (!value(item, depth + 1) || v.fields.count(k) != 0) {
          return false;  // duplicate keys count as a bug in our writer
        }
        v.fields.emplace(std::move(k), std::move(item));
        ws();
        if (lit("}")) {
          return true;
        }
        if (!lit(",")) {
          return false;
        }
      }
    }
    if (c == '[') {
      ++p_;
      v.kind = Json::Kind::kArray;
      ws();
      if (lit("]")) {
        return true;
      }
      while (true) {
        Json item;
        if (!value(item, depth + 1)) {
          return false;
        }
        v.items.push_back(std::move(item));
        ws();
        if (lit("]")) {
          return true;
        }
        if (!lit(",")) {
          return false;
        }
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::kString;
      return string(v.str);
    }
    if (lit("true")) {
      v.kind = Json::Kind::kBool;
      v.b = true;
      return true;
    }
    if (lit("false")) {
      v.kind = Json::Kind::kBool;
      return true;
    }
    if (lit("null")) {
      return true;
    }
    v.kind = Json::Kind::kNumber;
    return number(v.num);
  }

  std::string_view t_;
  std::size_t p_ = 0;
};

inline std::optional<Json> parseJson(std::string_view text) {
  return JsonReader(text).parse();
}

}  // namespace vpn::client::test
