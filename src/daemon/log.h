// One line per event on stderr; safe from any thread. Each line has a level
// (syslog's numbers); lines below the threshold (--log-level) are dropped.
// Under systemd (JOURNAL_STREAM set: stderr goes to the journal) a line is
// "<N>text", which journald takes as its priority, and carries no timestamp
// of its own; elsewhere "2026-11-28T09:01:02.345Z agilityd: text", with
// "warning: " or "error: " before the text of those levels.
#pragma once

#include <optional>

#include "absl/strings/string_view.h"

namespace agility::daemon {

enum class LogLevel : int { kError = 3, kWarning = 4, kInfo = 6, kDebug = 7 };

// "error", "warning", "info" or "debug"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(absl::string_view name);
// Lines below `level` are dropped from now on (default: info).
void SetLogLevel(LogLevel level);

void Log(LogLevel level, absl::string_view line);
inline void Log(absl::string_view line) { Log(LogLevel::kInfo, line); }

}  // namespace agility::daemon
