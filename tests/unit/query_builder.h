// Test helpers: build DNS queries byte by byte and read responses with ldns.
#pragma once

#include <ldns/ldns.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace agility::testing {

struct QueryOptions {
  uint16_t id = 0x1234;
  uint16_t qclass = 1;
  bool rd = true;
  bool edns = false;
  uint16_t udp_size = 1232;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;   // the DO bit
  bool compact_ok = false;  // the CO bit (RFC 9824)
  bool nsid = false;        // an empty NSID option (RFC 5001)
  // The data of COOKIE options (RFC 7873), one option each, as given.
  std::vector<std::vector<uint8_t>> cookies;
};

// A query for `name` (presentation form, case kept as given).
std::vector<uint8_t> BuildQuery(const std::string& name, uint16_t qtype,
                                const QueryOptions& options = {});

struct PacketDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketDeleter>;

// Parses a response; null when ldns rejects it.
Packet ParseResponse(const uint8_t* data, size_t size);

// "name TTL IN TYPE rdata" lines of one section, as ldns prints them.
std::vector<std::string> SectionText(const ldns_rr_list* section);

}  // namespace agility::testing
