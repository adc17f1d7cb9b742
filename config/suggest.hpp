#pragma once
// Did-you-mean helpers for configuration messages. Pure functions, std only, thread-safe.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vpn::config {

// Levenshtein distance between a and b, comparing ASCII letters case-insensitively.
std::size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to word, if it is within edit distance 2 and the distance is smaller than
// the longer of the two words (so "x" does not suggest "ca"), or if one is a prefix of the other
// of at least 3 characters ("warning" suggests "warn"; counted as distance 2). Ties go to the
// earlier candidate.
std::optional<std::string> closestMatch(std::string_view word,
                                        std::span<const std::string_view> candidates);

// " (did you mean 'x'?)" for the closest match, or "" when nothing is close.
std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace vpn::config
