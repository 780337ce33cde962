// IXFR steps applied to a compiled zone in place of a rebuild: the names
// they change are compiled into an overlay over the zone in force
// (ZoneBuilder::BuildOverlay), so that a one-record change to a zone of
// millions of names costs what the change costs. Not for the hot path.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dns/transfer.h"
#include "dns/zone.h"

namespace agility::dns {

// `current` with `diffs` applied, in order. Fails when the steps do not
// apply (a step from another serial, a removed record the zone lacks) or
// the changed names fail a zone's checks; fails with FailedPrecondition
// when the change is not one an overlay holds. A build of the whole zone
// (ApplyDiffs) is then what decides.
absl::StatusOr<std::unique_ptr<Zone>> PatchZone(std::shared_ptr<const Zone> current,
                                                const std::vector<const ZoneDiff*>& diffs);

}  // namespace agility::dns
