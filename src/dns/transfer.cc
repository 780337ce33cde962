#include "dns/transfer.h"

extern "C" {
#include <libknot/codes.h>
#include <libknot/consts.h>
#include <libknot/descriptor.h>
#include <libknot/errcode.h>
#include <libknot/error.h>
#include <libknot/lookup.h>
#include <libknot/packet/pkt.h>
#include <libknot/rrset.h>
}

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

// A transfer's messages must be what a primary sends: a response to our
// question, without error, not truncated.
absl::Status CheckHeader(const uint8_t* message, size_t size, uint16_t id) {
  if (size < kHeaderSize) return absl::DataLossError("a message shorter than a DNS header");
  const uint16_t flags = ReadU16(message + 2);
  if (ReadU16(message) != id) return absl::DataLossError("a message with another ID");
  if (!(flags & flag::kQr) || (flags & flag::kOpcodeMask) != 0) {
    return absl::DataLossError("a message that is not a response to our query");
  }
  if (const uint8_t rc = flags & 0xf; rc != rcode::kNoError) {
    const knot_lookup_t* name = knot_lookup_by_id(knot_rcode_names, rc);
    return absl::FailedPreconditionError(absl::StrCat("the primary answered ",
                                                      name != nullptr ? name->name : "rcode ",
                                                      name != nullptr ? "" : absl::StrCat(rc)));
  }
  if (flags & flag::kTc) return absl::DataLossError("a truncated message");
  return absl::OkStatus();
}

}  // namespace

uint32_t SoaSerial(absl::string_view rdata) {
  const uint8_t* p = AsBytes(rdata);
  size_t pos = SkipPacketName(p, rdata.size(), 0);
  if (pos == 0) return 0;
  pos = SkipPacketName(p, rdata.size(), pos);
  if (pos == 0 || pos + 20 != rdata.size()) return 0;
  return ReadU32(p + pos);
}

size_t WriteTransferQuery(absl::string_view apex, uint16_t qtype, uint16_t id,
                          absl::string_view current_soa, uint32_t soa_ttl, TsigClient* tsig,
                          uint8_t* out, size_t limit) {
  const bool ixfr = qtype == type::kIxfr;
  const size_t size = kHeaderSize + apex.size() + 4 + (ixfr ? 2 + 10 + current_soa.size() : 0);
  if (size > limit) return 0;
  std::memset(out, 0, kHeaderSize);
  WriteU16(out, id);
  WriteU16(out + 4, 1);
  WriteU16(out + 8, ixfr ? 1 : 0);
  size_t pos = kHeaderSize;
  std::memcpy(out + pos, apex.data(), apex.size());
  pos += apex.size();
  WriteU16(out + pos, qtype);
  WriteU16(out + pos + 2, rr_class::kIn);
  pos += 4;
  if (ixfr) {
    WriteU16(out + pos, 0xc000 | kHeaderSize);
    WriteU16(out + pos + 2, type::kSoa);
    WriteU16(out + pos + 4, rr_class::kIn);
    WriteU32(out + pos + 6, soa_ttl);
    WriteU16(out + pos + 10, static_cast<uint16_t>(current_soa.size()));
    if (!current_soa.empty()) std::memcpy(out + pos + 12, current_soa.data(), current_soa.size());
    pos += 12 + current_soa.size();
  }
  if (tsig != nullptr && !tsig->SignRequest(out, &pos, limit)) return 0;
  return pos;
}

absl::Status TransferReader::Read(const uint8_t* message, size_t size) {
  if (done_) return absl::DataLossError("a message after the transfer's last SOA");
  if (auto status = CheckHeader(message, size, id_); !status.ok()) return status;
  if (tsig_ != nullptr) {
    if (auto status = tsig_->CheckResponse(message, size); !status.ok()) return status;
  }
  ++messages_;
  // libknot reads the records: it knows which RDATA fields are names and
  // undoes their compression. It strips the TSIG from its copy.
  std::string copy(reinterpret_cast<const char*>(message), size);
  knot_pkt_t* pkt = knot_pkt_new(copy.data(), static_cast<uint16_t>(copy.size()), nullptr);
  if (pkt == nullptr) return absl::ResourceExhaustedError("out of memory");
  absl::Status status = absl::OkStatus();
  if (const int rc = knot_pkt_parse(pkt, KNOT_PF_NOCANON); rc != KNOT_EOK) {
    status = absl::DataLossError(absl::StrCat("a malformed message: ", knot_strerror(rc)));
  } else if (tsig_ == nullptr && pkt->tsig_rr != nullptr) {
    status = absl::PermissionDeniedError("a signed message, and we sent no key");
  } else if (knot_wire_get_qdcount(pkt->wire) > 0 &&
             (knot_pkt_qtype(pkt) != qtype_ ||
              !absl::EqualsIgnoreCase(
                  AsChars(knot_pkt_qname(pkt), knot_dname_size(knot_pkt_qname(pkt))), apex_))) {
    status = absl::DataLossError("a message about another question");
  }
  const knot_pktsection_t* answer = knot_pkt_section(pkt, KNOT_ANSWER);
  for (uint16_t i = 0; status.ok() && i < answer->count; ++i) {
    const knot_rrset_t* rrset = knot_pkt_rr(answer, i);
    if (rrset->rclass != KNOT_CLASS_IN) {
      status = absl::DataLossError(absl::StrCat("a record of class ", rrset->rclass));
      break;
    }
    TransferRecord record;
    record.owner.assign(reinterpret_cast<const char*>(rrset->owner), knot_dname_size(rrset->owner));
    for (char& c : record.owner) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
    record.type = rrset->type;
    record.ttl = rrset->ttl;
    const knot_rdata_t* rdata = rrset->rrs.rdata;
    record.rdata.assign(reinterpret_cast<const char*>(rdata->data), rdata->len);
    ++records_;
    status = Record(std::move(record));
  }
  knot_pkt_free(pkt);
  if (status.ok() && done_ && tsig_ != nullptr) status = tsig_->Finish();
  return status;
}

absl::Status TransferReader::Record(TransferRecord record) {
  const bool soa = record.type == type::kSoa;
  if (soa && record.owner != apex_) return absl::DataLossError("an SOA record below the apex");
  const uint32_t serial = soa ? SoaSerial(record.rdata) : 0;
  switch (state_) {
    case State::kFirst:
      if (!soa) return absl::DataLossError("a transfer that does not begin with the zone's SOA");
      serial_ = serial;
      first_soa_ = std::move(record);
      if (current_serial_.has_value() && !SerialNewer(serial_, *current_serial_)) {
        if (serial_ != *current_serial_) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the primary's serial ", serial_, " is older than ours, ", *current_serial_));
        }
        // An IXFR (or AXFR) of what we have: one SOA says so (RFC 1995 §2).
        state_ = State::kDone;
        done_ = true;
        result_ = Result::kUpToDate;
        return absl::OkStatus();
      }
      state_ = State::kSecond;
      return absl::OkStatus();
    case State::kSecond:
      if (soa && qtype_ == type::kIxfr && current_serial_.has_value() &&
          serial == *current_serial_) {
        result_ = Result::kIncremental;
        state_ = State::kRemoving;
        diffs_.push_back({serial, 0, {std::move(record)}, {}});
        return absl::OkStatus();
      }
      result_ = Result::kFull;
      state_ = State::kFull;
      if (auto status = full_(first_soa_); !status.ok()) return status;
      [[fallthrough]];
    case State::kFull:
      if (soa) {
        if (serial != serial_) return absl::DataLossError("a transfer that ends with another SOA");
        state_ = State::kDone;
        done_ = true;
        return absl::OkStatus();
      }
      return full_(record);
    case State::kRemoving:
      if (soa) {
        ZoneDiff& diff = diffs_.back();
        if (!SerialNewer(serial, diff.from_serial)) {
          return absl::DataLossError(
              absl::StrCat("an IXFR step from serial ", diff.from_serial, " to ", serial));
        }
        diff.to_serial = serial;
        diff.added.push_back(std::move(record));
        state_ = State::kAdding;
        return absl::OkStatus();
      }
      diffs_.back().removed.push_back(std::move(record));
      return absl::OkStatus();
    case State::kAdding:
      if (soa) {
        const uint32_t reached = diffs_.back().to_serial;
        if (serial != reached) {
          return absl::DataLossError(absl::StrCat("an IXFR step that starts from serial ", serial,
                                                  " after reaching ", reached));
        }
        if (reached == serial_) {
          state_ = State::kDone;
          done_ = true;
          return absl::OkStatus();
        }
        diffs_.push_back({serial, 0, {std::move(record)}, {}});
        state_ = State::kRemoving;
        return absl::OkStatus();
      }
      diffs_.back().added.push_back(std::move(record));
      return absl::OkStatus();
    case State::kDone:
      break;
  }
  return absl::DataLossError("a record after the transfer's last SOA");
}

}  // namespace agility::dns
