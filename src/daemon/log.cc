#include "daemon/log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace agility::daemon {

void Log(absl::string_view line) {
  const std::string text =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                   " agilityd: ", line, "\n");
  // One fwrite per line keeps concurrent lines whole.
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace agility::daemon
