#pragma once
// The programs' log sink: one line per event on stderr. On a terminal or in a file each line
// starts with a UTC timestamp and the level ("2026-12-04T10:00:00Z info  alice is up ...").
// When stderr is the journal (JOURNAL_STREAM names stderr's device and inode, as systemd sets it)
// the journal adds its own timestamps, so a line is only the syslog priority prefix and the
// message ("<6>alice is up ..."), and `journalctl -p warning` filters by level.
// Call once from main, before other threads exist.
#include <string>
#include <string_view>

#include "base/log.hpp"

namespace vpn::log {

void installStderrSink(Level level);

// The line for one message, without the newline (exposed for tests).
std::string formatLine(Level level, std::string_view message, bool journal);
// True if JOURNAL_STREAM ("DEV:INO") describes the file open on fd 2.
bool stderrIsJournal();

}  // namespace vpn::log
