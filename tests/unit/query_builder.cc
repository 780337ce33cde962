#include "query_builder.h"

#include <cstring>

namespace agility::testing {

std::vector<uint8_t> BuildQuery(const std::string& name, uint16_t qtype,
                                const QueryOptions& options) {
  std::vector<uint8_t> q = {static_cast<uint8_t>(options.id >> 8),
                            static_cast<uint8_t>(options.id),
                            static_cast<uint8_t>(options.rd ? 0x01 : 0x00),
                            0x00,
                            0,
                            1,
                            0,
                            0,
                            0,
                            0,
                            0,
                            static_cast<uint8_t>(options.edns ? 1 : 0)};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  q.push_back(static_cast<uint8_t>(qtype >> 8));
  q.push_back(static_cast<uint8_t>(qtype));
  q.push_back(static_cast<uint8_t>(options.qclass >> 8));
  q.push_back(static_cast<uint8_t>(options.qclass));
  if (options.edns) {
    std::vector<uint8_t> data;
    if (options.nsid) data.insert(data.end(), {0, 3, 0, 0});
    for (const std::vector<uint8_t>& cookie : options.cookies) {
      data.insert(data.end(), {0, 10, static_cast<uint8_t>(cookie.size() >> 8),
                               static_cast<uint8_t>(cookie.size())});
      data.insert(data.end(), cookie.begin(), cookie.end());
    }
    const uint8_t opt[] = {
        0,
        0,
        41,
        static_cast<uint8_t>(options.udp_size >> 8),
        static_cast<uint8_t>(options.udp_size),
        0,
        options.edns_version,
        static_cast<uint8_t>((options.dnssec_ok ? 0x80 : 0) | (options.compact_ok ? 0x40 : 0)),
        0,
        static_cast<uint8_t>(data.size() >> 8),
        static_cast<uint8_t>(data.size())};
    q.insert(q.end(), opt, opt + sizeof(opt));
    q.insert(q.end(), data.begin(), data.end());
  }
  return q;
}

Packet ParseResponse(const uint8_t* data, size_t size) {
  ldns_pkt* packet = nullptr;
  if (ldns_wire2pkt(&packet, data, size) != LDNS_STATUS_OK) return nullptr;
  return Packet(packet);
}

std::vector<std::string> SectionText(const ldns_rr_list* section) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    char* text = ldns_rr2str(ldns_rr_list_rr(section, i));
    std::string line(text);
    free(text);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    for (char& c : line) {
      if (c == '\t') c = ' ';
    }
    lines.push_back(line);
  }
  return lines;
}

}  // namespace agility::testing
