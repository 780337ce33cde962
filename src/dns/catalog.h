// Catalog zones (RFC 9432): which member zones a catalog lists, as a
// consumer reads it, and the catalog a producer writes. The catalog is an
// ordinary zone, transferred as secondaries are. No I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dns/zone.h"

namespace agility::dns {

struct CatalogMembers {
  std::vector<std::string> zones;  // lowercase wire, in the catalog's order
  // What was not taken as the catalog says, one line each: properties not
  // honoured (coo, group), members ignored and why.
  std::vector<std::string> notes;
};

// The member zones of `catalog`. Fails, so that the members in force stay,
// when the catalog is broken: no "version" TXT record of "2" (RFC 9432
// §4.2.1), or more than `max_zones` members. A member node with other than
// one PTR record, or a zone listed twice, is left out with a note (§4.2).
absl::StatusOr<CatalogMembers> ReadCatalog(const Zone& catalog, size_t max_zones);

// The zone text of a catalog at `apex` (lowercase wire) with `serial`
// listing `members` (wire): version "2", and one PTR per member whose
// unique label is the SHA-1 of the member's name (as Knot DNS writes them),
// so that a member keeps its label however the list changes.
std::string CatalogZoneText(absl::string_view apex, const std::vector<std::string>& members,
                            uint32_t serial);

}  // namespace agility::dns
