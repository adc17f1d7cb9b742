#pragma once
// Small wording helpers shared by the `status` and `explain` renderers: durations and ages in
// words, milliseconds, and paragraph wrapping. Pure functions, thread-safe, never throw.
#include <string>
#include <string_view>

#include "base/time.hpp"
#include "client/engine/engine_status.hpp"
#include "client/json_writer.hpp"

namespace vpn::client {

double millis(Duration d);
// "12 s ago", "5 min ago", "3 h ago"; a negative duration counts as 0.
std::string humanAgo(Duration d);
// "in 7 s", "in 2 min", "now" (for a deadline already passed).
std::string humanIn(Duration d);
// Seconds from `at` to `now`, never negative (a snapshot may hold instants a hair after `now`).
double secondsAgo(Instant at, Instant now);
// Seconds from `now` to `at`, 0 if `at` has passed.
double secondsUntil(Instant at, Instant now);
// `text` as lines of at most `width` columns (longer words stay whole), each starting with
// `indent` and ending with '\n'.
std::string wrap(std::string_view text, std::string_view indent, std::size_t width = 96);

// The candidates array of a peer, as both `status --json` and `explain --json` print it.
void writeCandidates(JsonWriter& w, const std::vector<CandidateStatus>& candidates);
// The history array of a peer's path changes, as both print it.
void writeHistory(JsonWriter& w, const std::vector<PathEvent>& history, Instant now);

}  // namespace vpn::client
