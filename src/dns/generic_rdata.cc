#include "dns/generic_rdata.h"

#include "dns/wire.h"

// Neither library declares C linkage for C++.
extern "C" {
#include <libknot/descriptor.h>
#include <libknot/errcode.h>
#include <libknot/packet/rrset-wire.h>
#include <libknot/rrset-dump.h>
#include <libzscanner/scanner.h>
}

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

// ldns defines bool, true and false as macros: after every C++ header.
#include <ldns/ldns.h>

namespace agility::dns {
namespace {

struct RrsetClear {
  void operator()(knot_rrset_t* rrset) const { knot_rrset_clear(rrset, nullptr); }
};

struct ScannerFree {
  void operator()(zs_scanner_t* scanner) const {
    zs_deinit(scanner);
    delete scanner;
  }
};

// The record as it would arrive in a message: root owner, class IN, TTL 0.
std::vector<uint8_t> RecordWire(uint16_t type, absl::string_view rdata) {
  const uint8_t head[11] = {
      0, static_cast<uint8_t>(type >> 8),         static_cast<uint8_t>(type),        0, 1, 0, 0, 0,
      0, static_cast<uint8_t>(rdata.size() >> 8), static_cast<uint8_t>(rdata.size())};
  std::vector<uint8_t> wire(sizeof(head) + rdata.size());
  std::memcpy(wire.data(), head, sizeof(head));
  if (!rdata.empty()) std::memcpy(wire.data() + sizeof(head), rdata.data(), rdata.size());
  return wire;
}

// Types ldns knows and Knot does not (MD, MF, MB, MG, MR, WKS, X25, ISDN,
// NSAP, PX, GPOS, A6, NXT...): the data must read as the type's fields in
// ldns's wire parser, to the last byte.
absl::Status CheckWithLdns(uint16_t type, absl::string_view rdata) {
  const ldns_rr_descriptor* descriptor = ldns_rr_descript(type);
  if (descriptor == nullptr || descriptor->_name == nullptr) return absl::OkStatus();
  const std::vector<uint8_t> wire = RecordWire(type, rdata);
  ldns_rr* rr = nullptr;
  size_t pos = 0;
  const ldns_status status = ldns_wire2rr(&rr, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER);
  if (rr != nullptr) ldns_rr_free(rr);
  if (status != LDNS_STATUS_OK || pos != wire.size()) {
    return absl::InvalidArgumentError(absl::StrCat("RFC 3597 data is not a valid ",
                                                   descriptor->_name,
                                                   " record (its fields do not fit the data)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckDumpable(uint16_t rrtype, absl::string_view rdata) {
  const auto short_data = [rrtype] {
    return absl::InvalidArgumentError(absl::StrCat(rrtype == type::kNsec3 ? "NSEC3" : "NSEC3PARAM",
                                                   " data shorter than its salt and hash"));
  };
  switch (rrtype) {
    case type::kNsec3:
    case type::kNsec3Param: {
      // Algorithm, flags, iterations, then the salt after its length.
      if (rdata.size() < 5) return short_data();
      const size_t after_salt = 5 + static_cast<uint8_t>(rdata[4]);
      if (rdata.size() < after_salt) return short_data();
      if (rrtype == type::kNsec3Param) return absl::OkStatus();
      // The next hashed owner after its length; the type bitmap follows.
      if (rdata.size() < after_salt + 1 ||
          rdata.size() < after_salt + 1 + static_cast<uint8_t>(rdata[after_salt])) {
        return short_data();
      }
      return absl::OkStatus();
    }
    case type::kTsig:
    case 249:  // TKEY
      return absl::InvalidArgumentError("a TSIG or TKEY record, which no zone holds");
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckGenericRdata(uint16_t type, absl::string_view rdata) {
  if (auto status = CheckDumpable(type, rdata); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("RFC 3597 data is not valid for its type (", status.message(), ")"));
  }
  const knot_rdata_descriptor_t* descriptor = knot_get_rdata_descriptor(type);
  if (descriptor == nullptr || descriptor->type_name == nullptr) {
    return CheckWithLdns(type, rdata);
  }
  const auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("RFC 3597 data is not a valid ",
                                                   descriptor->type_name, " record (", why, ")"));
  };

  const std::vector<uint8_t> wire = RecordWire(type, rdata);
  knot_rrset_t rrset;
  knot_rrset_init_empty(&rrset);
  std::unique_ptr<knot_rrset_t, RrsetClear> owned(&rrset);
  size_t pos = 0;
  if (knot_rrset_rr_from_wire(wire.data(), &pos, wire.size(), &rrset, nullptr, false) != KNOT_EOK ||
      pos != wire.size()) {
    return invalid("its fields do not fit the data");
  }

  knot_dump_style_t style = KNOT_DUMP_STYLE_DEFAULT;
  style.human_timestamp = false;  // the number itself: no calendar round trip
  style.human_ttl = false;
  style.wrap = false;
  // Every byte can take four characters ("\DDD"), plus separators.
  std::string text = absl::StrCat(". 0 IN ", descriptor->type_name, " ");
  const size_t head = text.size();
  text.resize(head + 5 * rdata.size() + 1024);
  const int written =
      knot_rrset_txt_dump_data(&rrset, 0, text.data() + head, text.size() - head, &style);
  if (written < 0) return invalid("it has no text form");
  text.resize(head + static_cast<size_t>(written));
  text += '\n';

  std::unique_ptr<zs_scanner_t, ScannerFree> scanner(new zs_scanner_t);
  if (zs_init(scanner.get(), ".", 1, 0) != 0 ||
      zs_set_input_string(scanner.get(), text.data(), text.size()) != 0) {
    return absl::InternalError("cannot start the zone scanner");
  }
  while (zs_parse_record(scanner.get()) == 0 && scanner->state != ZS_STATE_EOF) {
    if (scanner->state == ZS_STATE_ERROR) {
      return invalid(absl::StrCat("its text form '", text.substr(head, written),
                                  "' does not scan: ", zs_strerror(scanner->error.code)));
    }
    if (scanner->state != ZS_STATE_DATA) continue;
    if (absl::string_view(reinterpret_cast<const char*>(scanner->r_data), scanner->r_data_length) !=
        rdata) {
      return invalid(absl::StrCat("it is not in the canonical layout that its text form '",
                                  text.substr(head, written), "' gives"));
    }
    return absl::OkStatus();
  }
  return invalid("its text form does not scan");
}

}  // namespace agility::dns
