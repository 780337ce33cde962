// DNS wire-format constants and big-endian accessors shared by the parser,
// the writer and the zone store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace agility::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxLabels = 128;
inline constexpr size_t kClassicUdpSize = 512;
inline constexpr size_t kMaxMessageSize = 65535;

namespace type {
inline constexpr uint16_t kA = 1;
inline constexpr uint16_t kNs = 2;
inline constexpr uint16_t kCname = 5;
inline constexpr uint16_t kSoa = 6;
inline constexpr uint16_t kPtr = 12;
inline constexpr uint16_t kHinfo = 13;
inline constexpr uint16_t kMx = 15;
inline constexpr uint16_t kTxt = 16;
inline constexpr uint16_t kAaaa = 28;
inline constexpr uint16_t kSrv = 33;
inline constexpr uint16_t kDname = 39;
inline constexpr uint16_t kOpt = 41;
inline constexpr uint16_t kDs = 43;
inline constexpr uint16_t kRrsig = 46;
inline constexpr uint16_t kNsec = 47;
inline constexpr uint16_t kDnskey = 48;
inline constexpr uint16_t kNsec3 = 50;
inline constexpr uint16_t kNsec3Param = 51;
inline constexpr uint16_t kCds = 59;
inline constexpr uint16_t kCdnskey = 60;
// RFC 9824: listed in a compact denial's NSEC for a name that does not exist.
inline constexpr uint16_t kNxname = 128;
inline constexpr uint16_t kTkey = 249;
inline constexpr uint16_t kTsig = 250;
inline constexpr uint16_t kIxfr = 251;
inline constexpr uint16_t kAxfr = 252;
inline constexpr uint16_t kMailb = 253;
inline constexpr uint16_t kMaila = 254;
inline constexpr uint16_t kAny = 255;
}  // namespace type

namespace rr_class {
inline constexpr uint16_t kIn = 1;
inline constexpr uint16_t kCh = 3;
inline constexpr uint16_t kAny = 255;  // QCLASS "*" (RFC 1035 §3.2.5)
}  // namespace rr_class

namespace rcode {
inline constexpr uint8_t kNoError = 0;
inline constexpr uint8_t kFormErr = 1;
inline constexpr uint8_t kServFail = 2;
inline constexpr uint8_t kNxDomain = 3;
inline constexpr uint8_t kNotImp = 4;
inline constexpr uint8_t kRefused = 5;
inline constexpr uint8_t kYxDomain = 6;  // a DNAME substitution overflowed (RFC 6672)
inline constexpr uint8_t kNotAuth = 9;   // with TSIG: the key is not known (RFC 8945 §5.2)
// Extended (EDNS) rcode 16: upper 8 bits travel in the OPT TTL field.
inline constexpr uint16_t kBadVers = 16;
inline constexpr uint16_t kBadCookie = 23;  // RFC 7873 §8
}  // namespace rcode

// The TSIG error field (RFC 8945 §4.2).
namespace tsig_error {
inline constexpr uint16_t kBadSig = 16;
inline constexpr uint16_t kBadKey = 17;
inline constexpr uint16_t kBadTime = 18;
}  // namespace tsig_error

// Header flag bits in the 16-bit flags word.
namespace flag {
inline constexpr uint16_t kQr = 0x8000;
inline constexpr uint16_t kOpcodeMask = 0x7800;
inline constexpr uint16_t kOpcodeNotify = 4 << 11;  // RFC 1996
inline constexpr uint16_t kAa = 0x0400;
inline constexpr uint16_t kTc = 0x0200;
inline constexpr uint16_t kRd = 0x0100;
inline constexpr uint16_t kRa = 0x0080;
inline constexpr uint16_t kAd = 0x0020;
inline constexpr uint16_t kCd = 0x0010;
inline constexpr uint16_t kRcodeMask = 0x000f;
}  // namespace flag

// Flag bits of the OPT record's extended flags (its TTL's low 16 bits).
// EDNS option codes.
namespace edns_option {
inline constexpr uint16_t kNsid = 3;     // RFC 5001
inline constexpr uint16_t kExpire = 9;   // RFC 7314
inline constexpr uint16_t kCookie = 10;  // RFC 7873
}  // namespace edns_option

namespace edns_flag {
inline constexpr uint16_t kDo = 0x8000;  // DNSSEC OK (RFC 3225)
inline constexpr uint16_t kCo = 0x4000;  // Compact answers OK (RFC 9824 §5.1)
}  // namespace edns_flag

inline uint16_t ReadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

inline uint32_t ReadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

inline void WriteU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

inline void WriteU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline uint8_t AsciiLower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

}  // namespace agility::dns
