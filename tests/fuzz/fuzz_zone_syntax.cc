// libFuzzer harness, differential: agilityd's reading of a zone file against
// Knot DNS's. Every input is zone text for the origin example.com.; it is read
// by agility::dns::ScanZoneText and by kzonecheck (Knot DNS's zone checker,
// run as a process), and their verdicts on its syntax must agree. Knot's
// verdict is its zone loader's errors, not its semantic checks.
//
// agilityd rejects on purpose some records Knot loads; those rejections are
// allowed, by the reason our message gives (kChosen below, and
// tests/data/zone_syntax/disagreements.txt for why). Every other difference
// traps, and libFuzzer keeps the input.
//
// Inputs with $INCLUDE are left out: the two resolve paths differently, and a
// fuzzer must not read the machine's files. So are inputs kzonecheck dies on
// (Knot 3.2 crashes or hangs on some RFC 3597 data that we reject).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "dns/zone_file.h"
#include "dns_check.h"

namespace {

// Our reasons for rejecting what Knot loads.
constexpr const char* kChosen[] = {
    "above 2147483647 (RFC 2181",    // a TTL Knot keeps and RFC 2181 section 8 forbids
    "RFC 3597 data is not a valid",  // generic data that is no record of its type
    "RFC 3597 data is not valid for its type",  // the same, found by our own dump check
    "cannot appear in a zone",       // OPT, TSIG, TKEY, IXFR, AXFR, MAILA, MAILB, ANY
    "escape above \\255",            // a name's "\256", which Knot's scanner reads as 0
};

const std::string& ZonePath() {
  static const std::string* path = [] {
    char dir[] = "/tmp/agility-fuzz-zone-syntax.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    return new std::string(std::string(dir) + "/example.com.zone");
  }();
  return *path;
}

// 1 when kzonecheck loads the text, 0 when its zone loader reports an error,
// -1 when it gave no verdict (it crashed, or could not run).
int KnotVerdict(absl::string_view text, std::string& said) {
  std::ofstream(ZonePath(), std::ios::binary | std::ios::trunc).write(text.data(), text.size());
  // Bounded: Knot 3.2's checker can hang on RFC 3597 data (and crash).
  const std::string command = "timeout 5 kzonecheck -v -o example.com. " + ZonePath() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) said.append(buffer, n);
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) return -1;
  // Its DNSSEC validation, not its reading: RRSIGs without a DNSKEY to check
  // them make kzonecheck "fail to load" a zone it read. No syntax verdict.
  if (absl::StrContains(said, "(no keys for signing)")) return -1;
  // "zone loader, error in zone", "zone loader, fatal error in zone", "zone
  // loader, failed to load zone"; not its warnings ("zone loader, ignoring").
  for (const char* failed :
       {"zone loader, error", "zone loader, fatal error", "zone loader, failed"}) {
    if (absl::StrContains(said, failed)) return 0;
  }
  return 1;
}

// True when `error` ("path:line: ...") is about the last line of `text` and
// no newline ends it. Knot 3.2's loader (zs_parse_all) swallows a fatal error
// there, a CR byte or a broken directive: the line is dropped without a word
// ("x A 192.0.2\r.1", "$TTL 1x"). We report it.
bool OnUnterminatedLastLine(absl::string_view text, absl::string_view error) {
  if (text.empty() || text.back() == '\n') return false;
  const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  const std::vector<absl::string_view> parts = absl::StrSplit(error, absl::MaxSplits(':', 2));
  return parts.size() == 3 && parts[1] == std::to_string(lines);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (absl::StrContains(absl::AsciiStrToUpper(text), "$INCLUDE")) return -1;
  const absl::Status ours = agility::dns::ScanZoneText(text, ZonePath(), "example.com.");
  std::string knot_said;
  const int knot = KnotVerdict(text, knot_said);
  if (agility::fuzz::Verbose()) {
    std::fprintf(stderr, "agilityd: %s\nkzonecheck (%d): %s\n",
                 ours.ok() ? "ok" : std::string(ours.message()).c_str(), knot, knot_said.c_str());
  }
  if (knot < 0) return 0;
  if (ours.ok()) {
    FUZZ_CHECK(knot == 1, "kzonecheck rejects a zone agilityd reads: " + knot_said);
    return 0;
  }
  if (knot == 0) return 0;
  for (const absl::string_view error : absl::StrSplit(ours.message(), '\n')) {
    bool chosen = OnUnterminatedLastLine(text, error);
    for (const char* reason : kChosen) chosen = chosen || absl::StrContains(error, reason);
    FUZZ_CHECK(chosen, "agilityd rejects a zone kzonecheck loads: " + std::string(error));
  }
  return 0;
}
