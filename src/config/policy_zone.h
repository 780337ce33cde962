// Pools and policies as DNS data: the policy zone a fleet's primary
// publishes (`policy_zone:`) and its secondaries take their policy from
// (`policy_from:`), carried unchanged by any secondary in between, such as
// Knot DNS. Layout 1, under the zone's apex:
//
//   version                 TXT "1"              the layout; others are refused
//   <j>.pools               TXT "name=web4"      pool j (0, 1, ...)
//   <prefix>.<j>.pools      APL 1:127.77.0.0/24  one prefix of pool j ...
//                           TXT "weight=3"       ... and its weight (default 1)
//   <i>.policies            TXT "name=web" "match=*.example.com" "ipv4=web4" ...
//
// A policy's TXT strings are its YAML keys as key=value; list keys (match,
// ports, protocols) repeat, one value each, over as many TXT records as they
// need. <prefix> is the prefix with '-' for '.', ':' and '/'
// (127-77-0-0-24), read for nothing but unique names. What a policy zone
// says is read back into YAML and checked by the configuration's own parser
// (ParsePolicySections), so that it is accepted or refused exactly as the
// same pools and policies written in agility.yaml would be.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "dns/zone.h"

namespace agility::config {

inline constexpr char kPolicyLayout[] = "1";

// The zone text publishing `config`'s pools and policies, as they are in
// `config` (weights included: the caller sets those in force), under
// `config.policy_zone` with `serial`. Fails when a value does not fit a TXT
// string (255 bytes, key included).
absl::StatusOr<std::string> PolicyZoneText(const Config& config, uint32_t serial);

// Replaces `config`'s pools and policies by those `zone` publishes, checked
// as ParsePolicySections checks them; errors name the records at fault. On
// failure `config` is unchanged.
absl::Status ReadPolicyZone(const dns::Zone& zone, Config& config);

}  // namespace agility::config
