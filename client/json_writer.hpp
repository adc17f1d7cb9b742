#pragma once
// JsonWriter: builds compact JSON text for `status --json` and the control protocol. Only what we
// emit: objects, arrays, strings, numbers, booleans, null. Keys and values are escaped per RFC 8259.
// Misuse (a value without a key inside an object) is a programming error and asserts.
// Value type; not thread-safe.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vpn::client {

class JsonWriter {
 public:
  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(std::uint64_t n);
  JsonWriter& value(std::int64_t n);
  JsonWriter& value(int n) { return value(static_cast<std::int64_t>(n)); }
  JsonWriter& value(double d);
  JsonWriter& value(bool b);
  JsonWriter& null();

  const std::string& str() const { return out_; }

 private:
  void separate();
  void appendEscaped(std::string_view s);

  std::string out_;
  // One entry per open container: true if it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace vpn::client
