// Zone transfers as the receiving side sees them (AXFR, RFC 5936; IXFR,
// RFC 1995): the request, and the reading of the response's messages into
// a whole zone or the differences between serials. No I/O here; the daemon
// moves the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dns/tsig.h"

namespace agility::dns {

// One record as a transfer carries it: the owner in lowercase wire form,
// RDATA in wire form with its names uncompressed.
struct TransferRecord {
  std::string owner;
  std::string rdata;
  uint32_t ttl = 0;
  uint16_t type = 0;
  bool operator==(const TransferRecord&) const = default;
};

// The changes from one serial to the next (one IXFR sequence). `removed`
// starts with the old SOA, `added` with the new one.
struct ZoneDiff {
  uint32_t from_serial = 0;
  uint32_t to_serial = 0;
  std::vector<TransferRecord> removed;
  std::vector<TransferRecord> added;
};

// RFC 1982 serial number arithmetic: a is newer than b.
inline bool SerialNewer(uint32_t a, uint32_t b) {
  return a != b && static_cast<uint32_t>(a - b) < 0x80000000u;
}

// The SOA serial within SOA RDATA (wire form, names uncompressed); 0 when
// the RDATA is malformed.
uint32_t SoaSerial(absl::string_view soa_rdata);

// Writes a request for `apex`: qtype SOA, AXFR, or IXFR with `current_soa`
// (the SOA RDATA we hold, and its TTL) in the authority section. Signs it
// with `tsig` when given. Returns its size, 0 when it does not fit.
size_t WriteTransferQuery(absl::string_view apex, uint16_t qtype, uint16_t id,
                          absl::string_view current_soa, uint32_t soa_ttl, TsigClient* tsig,
                          uint8_t* out, size_t limit);

// Reads the messages of one response to a WriteTransferQuery request, in
// order. A full zone (an AXFR, or an IXFR answered with the whole zone) goes
// record by record to a callback, the first SOA included, without being
// held; an incremental answer is kept as ZoneDiffs.
class TransferReader {
 public:
  enum class Result { kPending, kUpToDate, kFull, kIncremental };
  using RecordFn = std::function<absl::Status(const TransferRecord&)>;

  // `current_serial`: the serial we hold (IXFR, and telling an up-to-date
  // answer); nullopt when we hold nothing. `tsig` checks every message
  // when given.
  TransferReader(absl::string_view apex, uint16_t qtype, uint16_t id,
                 std::optional<uint32_t> current_serial, TsigClient* tsig, RecordFn full)
      : apex_(apex),
        qtype_(qtype),
        id_(id),
        current_serial_(current_serial),
        tsig_(tsig),
        full_(std::move(full)) {}

  // Reads the next message. Fails on anything that is not a sound next part
  // of this transfer; the transfer is then void.
  absl::Status Read(const uint8_t* message, size_t size);
  bool done() const { return done_; }
  Result result() const { return result_; }
  // The serial the response brings.
  uint32_t serial() const { return serial_; }
  std::vector<ZoneDiff>& diffs() { return diffs_; }
  size_t messages() const { return messages_; }
  size_t records() const { return records_; }

 private:
  absl::Status Record(TransferRecord record);

  enum class State { kFirst, kSecond, kFull, kRemoving, kAdding, kDone };
  std::string apex_;
  uint16_t qtype_;
  uint16_t id_;
  std::optional<uint32_t> current_serial_;
  TsigClient* tsig_;
  RecordFn full_;
  State state_ = State::kFirst;
  bool done_ = false;
  Result result_ = Result::kPending;
  TransferRecord first_soa_;
  uint32_t serial_ = 0;
  std::vector<ZoneDiff> diffs_;
  size_t messages_ = 0;
  size_t records_ = 0;
};

}  // namespace agility::dns
