// Reads RFC 1035 master files into a Zone. Knot DNS's zone scanner
// (libzscanner) reads the text: it knows the presentation form of every type
// Knot serves and rejects numbers beyond their field, bad encodings and stray
// text. We add what serving needs: class IN only, TTLs within RFC 2181,
// RFC 3597 generic data that is valid for its type, limits, and $INCLUDE
// files read without mmap.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dns/transfer.h"
#include "dns/zone.h"

namespace agility::dns {

class ZoneBuilder;

struct ZoneFileLimits {
  int max_include_depth = 8;
  size_t max_records = 500000000;  // per zone, $INCLUDEs included
  // A file's text at least this large goes back to the kernel as it is
  // scanned, a quarter of this at a time.
  size_t release_text_bytes = size_t{4} << 20;
  // Called every few seconds during long loads: records read so far, seconds.
  std::function<void(size_t records, double seconds)> progress;
};

// Loads and compiles the zone in `path`. The initial $ORIGIN is the file name
// without a trailing ".zone" ("example.com.zone" -> "example.com."); the apex
// is the owner of the SOA record. Errors are "path:line: message" lines, up
// to 20 of them.
absl::StatusOr<std::unique_ptr<Zone>> LoadZoneFile(const std::string& path,
                                                   const ZoneFileLimits& limits = {});

// Reads `path` again for a reload. `current` is the zone it gave before:
// when few names changed, the result is an overlay of those names over it
// (ZoneBuilder::BuildChanges; Zone::base() is then set) and `diff` gets
// what changed; otherwise the zone is compiled whole, as LoadZoneFile does.
absl::StatusOr<std::unique_ptr<Zone>> ReloadZoneFile(const std::string& path,
                                                     std::shared_ptr<const Zone> current,
                                                     ZoneDiff* diff,
                                                     const ZoneFileLimits& limits = {});

// Compiles zone text held in memory; `source` names it in error messages (and
// relative $INCLUDEs are found beside it) and `origin` is the initial $ORIGIN
// in presentation form.
absl::StatusOr<std::unique_ptr<Zone>> ParseZoneText(absl::string_view text,
                                                    const std::string& source,
                                                    absl::string_view origin,
                                                    const ZoneFileLimits& limits = {});

// Reads zone text as ParseZoneText does into `builder`, which compiles it
// (ZoneBuilder::Build or BuildOverlay); fails on the text's errors.
absl::Status ReadZoneText(absl::string_view text, const std::string& source,
                          absl::string_view origin, ZoneBuilder& builder);

// Reads zone text as ParseZoneText does, without compiling it: the errors of
// the text as a master file, and none of the checks of a zone's contents
// (SOA, NS, CNAME and other data...). For comparing our reading with other
// parsers'.
absl::Status ScanZoneText(absl::string_view text, const std::string& source,
                          absl::string_view origin);

}  // namespace agility::dns
