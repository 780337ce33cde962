// The line-based files of server.state_dir (drains, weight overrides): one
// record per line, fields separated by one space, '#' lines are comments.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace agility {

// Calls `parse(fields)` for every record of `text` that has `field_count`
// fields. `parse` returns "" or what is wrong with the record, which comes
// back as "source:line: message"; the first error ends the reading.
template <typename Parse>
absl::Status ForEachStateRecord(absl::string_view text, absl::string_view source,
                                size_t field_count, Parse parse) {
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    const std::string error = fields.size() == field_count
                                  ? std::string(parse(fields))
                                  : absl::StrCat("expected ", field_count, " fields");
    if (!error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace agility
