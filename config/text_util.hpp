#pragma once
// Small text helpers the config readers share (private to vpn::config): how a value is quoted in
// a message, lists joined for "use any of ...", membership in a key list. Pure, never throw
// except std::bad_alloc.
#include <span>
#include <string>
#include <string_view>

namespace vpn::config::detail {

// A value quoted for a message: 'value', control characters as \xNN, cut after 80 characters.
std::string showValue(std::string_view v);
// "a, b, c".
std::string joinList(std::span<const std::string_view> items);
bool contains(std::span<const std::string_view> list, std::string_view v);
// Non-empty and only 0-9.
bool isOnlyDigits(std::string_view s);

}  // namespace vpn::config::detail
