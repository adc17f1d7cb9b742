// The log line format: syslog priority prefixes when stderr is the journal (so journalctl -p
// filters by level), timestamps otherwise; one line per event.
#include "base/stderr_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <regex>
#include <string>

namespace vpn::log {
namespace {

TEST(StderrLog, JournalLinesCarryTheSyslogPriority) {
  EXPECT_EQ(formatLine(Level::kError, "tunnel down", true), "<3>tunnel down");
  EXPECT_EQ(formatLine(Level::kWarn, "x", true), "<4>x");
  EXPECT_EQ(formatLine(Level::kInfo, "x", true), "<6>x");
  EXPECT_EQ(formatLine(Level::kDebug, "x", true), "<7>x");
  EXPECT_EQ(formatLine(Level::kInfo, "two\nlines", true), "<6>two lines");
}

TEST(StderrLog, TerminalLinesStartWithATimestampAndTheLevel) {
  std::string line = formatLine(Level::kWarn, "alice is up", false);
  EXPECT_TRUE(std::regex_match(line, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ warn  alice is up)")))
      << line;
}

TEST(StderrLog, JournalIsRecognisedOnlyWhenTheStreamIsStderr) {
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(stderrIsJournal());
  struct stat st {};
  ASSERT_EQ(::fstat(2, &st), 0);
  std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(stderrIsJournal());
  ::setenv("JOURNAL_STREAM", "1:2", 1);  // a journal stream inherited by a child of ours
  EXPECT_FALSE(stderrIsJournal());
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(stderrIsJournal());
  ::unsetenv("JOURNAL_STREAM");
}

}  // namespace
}  // namespace vpn::log
