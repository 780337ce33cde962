// Catalog zones (RFC 9432), as a consumer: which member zones a catalog
// lists. The catalog is an ordinary zone, transferred as secondaries are;
// this reads its member list. No I/O.
#pragma once

#include <cstddef>
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

}  // namespace agility::dns
