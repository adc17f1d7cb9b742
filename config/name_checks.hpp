#pragma once
// Name checks of the config readers (private to vpn::config). Pure, thread-safe.
#include <string>
#include <string_view>

namespace vpn::config::detail {

// Empty if `n` can name a network interface (1 to 15 of A-Z a-z 0-9 _ . -, not "." or ".."),
// else the rest of a message that starts with the quoted value: " is empty; ...".
std::string tunNameProblem(std::string_view n);

}  // namespace vpn::config::detail
