#include "daemon/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace agility::daemon {
namespace {

std::atomic<int> threshold{static_cast<int>(LogLevel::kInfo)};

// systemd names the journal's stream in JOURNAL_STREAM ("device:inode");
// a child of a service inherits the variable with another stderr, so the
// two are compared (systemd.exec(5)). Read once.
bool ToJournal() {
  static const bool journal = [] {
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat err;
    unsigned long long device = 0, inode = 0;
    return stream != nullptr && std::sscanf(stream, "%llu:%llu", &device, &inode) == 2 &&
           fstat(STDERR_FILENO, &err) == 0 && err.st_dev == device && err.st_ino == inode;
  }();
  return journal;
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(absl::string_view name) {
  if (name == "error") return LogLevel::kError;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "info") return LogLevel::kInfo;
  if (name == "debug") return LogLevel::kDebug;
  return std::nullopt;
}

void SetLogLevel(LogLevel level) {
  threshold.store(static_cast<int>(level), std::memory_order_relaxed);
}

void Log(LogLevel level, absl::string_view line) {
  if (static_cast<int>(level) > threshold.load(std::memory_order_relaxed)) return;
  std::string text;
  if (ToJournal()) {
    // journald splits on newlines: each line of a long message keeps the level.
    for (absl::string_view rest = line; !rest.empty();) {
      const size_t end = rest.find('\n');
      absl::StrAppend(&text, "<", static_cast<int>(level), ">", rest.substr(0, end), "\n");
      rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end + 1);
    }
  } else {
    const char* label = level == LogLevel::kError     ? "error: "
                        : level == LogLevel::kWarning ? "warning: "
                                                      : "";
    text = absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                        " agilityd: ", label, line, "\n");
  }
  // One fwrite per line keeps concurrent lines whole.
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace agility::daemon
