// One line per event on stderr, with a UTC timestamp; safe from any thread.
#pragma once

#include "absl/strings/string_view.h"

namespace agility::daemon {

void Log(absl::string_view line);

}  // namespace agility::daemon
