// Reads RFC 1035 master files into a ZoneBuilder. We split the text into
// logical entries ourselves (parentheses, quotes, comments, directives, line
// numbers, $INCLUDE) and let ldns parse each record's text.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "dns/zone.h"

namespace agility::dns {

struct ZoneFileLimits {
  int max_include_depth = 8;
  size_t max_entry_length = 65536;  // one record's text, parentheses joined
  size_t max_records = 500000000;   // per zone, $INCLUDEs included
  // Called every few seconds during long loads: records read so far, seconds.
  std::function<void(size_t records, double seconds)> progress;
};

// Loads and compiles the zone in `path`. The initial $ORIGIN is the file name
// without a trailing ".zone" ("example.com.zone" -> "example.com."); the apex
// is the owner of the SOA record. Errors are "path:line: message" lines.
absl::StatusOr<std::unique_ptr<Zone>> LoadZoneFile(const std::string& path,
                                                   const ZoneFileLimits& limits = {});

// Compiles zone text held in memory; `source` names it in error messages and
// `origin` is the initial $ORIGIN in presentation form.
absl::StatusOr<std::unique_ptr<Zone>> ParseZoneText(absl::string_view text,
                                                    const std::string& source,
                                                    absl::string_view origin,
                                                    const ZoneFileLimits& limits = {});

}  // namespace agility::dns
