#include "config/suggest.hpp"

#include <algorithm>
#include <vector>

namespace vpn::config {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool isPrefix(std::string_view prefix, std::string_view word) {
  if (prefix.size() > word.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(prefix[i]) != lower(word[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t subst = prev[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> closestMatch(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  constexpr std::size_t kMaxDistance = 2;
  std::optional<std::string> best;
  std::size_t best_distance = kMaxDistance + 1;
  for (std::string_view c : candidates) {
    std::size_t longer = std::max(word.size(), c.size());
    std::size_t shorter = std::min(word.size(), c.size());
    const bool prefix = shorter >= 3 && isPrefix(word.size() < c.size() ? word : c,
                                                  word.size() < c.size() ? c : word);
    if (longer - shorter > kMaxDistance && !prefix) {
      continue;  // cannot be within distance 2; also keeps huge keys from costing much
    }
    // A prefix match ("warning" -> "warn", "key_file" -> "key") ranks behind real near-misses.
    std::size_t d = longer - shorter > kMaxDistance ? kMaxDistance : editDistance(word, c);
    if (d <= kMaxDistance && d < longer && d < best_distance) {
      best = std::string(c);
      best_distance = d;
    }
  }
  return best;
}

std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates) {
  auto match = closestMatch(word, candidates);
  if (!match) {
    return {};
  }
  return " (did you mean '" + *match + "'?)";
}

}  // namespace vpn::config
