// What server.state_dir keeps per zone: a secondary zone's copy
// (<zone>.zone) and a zone's IXFR journal (<zone>.ixfr), for restarts.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/state_dir.h"
#include "dns/journal.h"
#include "dns/zone.h"

namespace agility::daemon {

// The zone's name as a file name: "example.net", "root" for the root; what
// a name may hold that a file name may not is written as %XX.
std::string ZoneFileStem(absl::string_view apex);

// The journal saved for `zone`, when it leads to the zone's serial; null
// when there is none or it does not (the zone changed without it).
std::shared_ptr<const dns::Journal> ReadJournal(const StateDir& state, const dns::Zone& zone,
                                                size_t max_bytes);

// The journal saved for `zone`, when it leads to the zone's serial or on
// from it: a secondary saves its copy now and then and the IXFR steps it
// applies in between (they bring the copy read back up to date).
std::shared_ptr<const dns::Journal> ReadJournalOnFrom(const StateDir& state, const dns::Zone& zone,
                                                      size_t max_bytes);

absl::Status WriteJournal(const StateDir& state, absl::string_view apex,
                          const dns::Journal& journal, bool synced = true);
void RemoveJournal(const StateDir& state, absl::string_view apex);

}  // namespace agility::daemon
