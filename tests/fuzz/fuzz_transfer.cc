// libFuzzer harness: zone transfers in. The first input octet picks how the
// response is read (AXFR; IXFR from serial 1; either with TSIG checks); the
// rest is a TCP stream of messages, each after its two-octet length. Every
// message goes to dns::TransferReader until it fails or is done. A full
// zone is turned into zone text and compiled; an incremental one is applied
// to a fixed base zone (dns::ApplyDiffs) and compiled. What compiles must be
// the zone asked for, at the serial the transfer announced. An incremental
// one is also applied in place (dns::PatchZone): where that succeeds, the
// rebuild must too, and both must hold the same nodes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "dns/name.h"
#include "dns/transfer.h"
#include "dns/tsig.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_patch.h"
#include "dns/zone_text.h"

namespace {

using namespace agility;

constexpr char kBase[] = R"($ORIGIN example.net.
$TTL 300
@    SOA  ns1 hostmaster 1 3600 600 86400 60
@    NS   ns1
ns1  A    192.0.2.1
www  A    192.0.2.10
www  A    192.0.2.11
mail MX   10 www
)";

const std::shared_ptr<const dns::Zone>& SharedBase() {
  static const auto* zone = [] {
    auto parsed = dns::ParseZoneText(kBase, "base", "example.net.");
    if (!parsed.ok()) std::abort();
    return new std::shared_ptr<const dns::Zone>(*std::move(parsed));
  }();
  return *zone;
}

const dns::Zone& Base() { return *SharedBase(); }

// Every node by name: flags (kHasChildren aside, which an overlay may keep
// after the last child goes) and RRsets, byte for byte.
std::map<std::string, std::string> Nodes(const dns::Zone& zone) {
  std::map<std::string, std::string> nodes;
  zone.ForEachNode([&nodes](const dns::NodeView& node) {
    const auto* start = static_cast<const char*>(node.id());
    const size_t header = 3 + node.name().size();
    nodes[std::string(node.name())] =
        static_cast<char>(node.flags() & ~dns::node_flag::kHasChildren) +
        std::string(start + header, node.size() - header);
  });
  return nodes;
}

const dns::TsigKeyring& Keyring() {
  static const auto* keyring = [] {
    auto built = dns::TsigKeyring::Build({{"xfr", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0MTI="}});
    if (!built.ok()) std::abort();
    return new std::shared_ptr<const dns::TsigKeyring>(*built);
  }();
  return **keyring;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Base();
  Keyring();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const bool ixfr = mode & 1;
  const bool signed_exchange = mode & 2;
  const std::string apex = *dns::NameFromText("example.net.");
  const uint16_t qtype = ixfr ? dns::type::kIxfr : dns::type::kAxfr;
  // Messages written by hand carry ID 0; the harness asks with ID 0.
  const uint16_t id = 0;
  std::unique_ptr<dns::TsigClient> tsig;
  if (signed_exchange) {
    tsig = std::make_unique<dns::TsigClient>(*Keyring().Find(*dns::NameFromText("xfr.")));
    uint8_t query[512];
    if (dns::WriteTransferQuery(apex, qtype, id, {}, 0, tsig.get(), query, sizeof(query)) == 0) {
      Fail("the signed request does not fit");
    }
  }
  dns::ZoneTextWriter text;
  dns::TransferReader reader(apex, qtype, id, ixfr ? std::optional<uint32_t>(1) : std::nullopt,
                             tsig.get(),
                             [&text](const dns::TransferRecord& r) { return text.Add(r); });
  size_t pos = 1;
  while (!reader.done() && pos + 2 <= size) {
    const size_t length = size_t{data[pos]} << 8 | data[pos + 1];
    pos += 2;
    if (pos + length > size) return 0;  // a cut stream
    if (!reader.Read(data + pos, length).ok()) return 0;
    pos += length;
  }
  if (!reader.done()) return 0;
  if (reader.result() == dns::TransferReader::Result::kUpToDate) {
    if (!ixfr || reader.serial() != 1) Fail("up to date with another serial");
    return 0;
  }
  std::unique_ptr<dns::Zone> patched;
  if (reader.result() == dns::TransferReader::Result::kIncremental) {
    if (!ixfr) Fail("an incremental answer to an AXFR");
    std::vector<const dns::ZoneDiff*> steps;
    for (const dns::ZoneDiff& diff : reader.diffs()) steps.push_back(&diff);
    auto in_place = dns::PatchZone(SharedBase(), steps);
    if (in_place.ok()) patched = *std::move(in_place);
    if (!dns::ApplyDiffs(Base(), reader.diffs(), text).ok()) {
      if (patched != nullptr) Fail("steps applied in place that do not apply");
      return 0;
    }
  }
  auto zone = dns::ParseZoneText(text.text(), "transferred", "example.net.");
  if (!zone.ok()) {
    if (patched != nullptr) Fail("a zone changed in place that a rebuild refuses");
    return 0;
  }
  if (patched != nullptr) {
    if (patched->serial() != (*zone)->serial() || patched->name_count() != (*zone)->name_count() ||
        patched->record_count() != (*zone)->record_count() || Nodes(*patched) != Nodes(**zone)) {
      Fail("the zone changed in place differs from the rebuilt one");
    }
  }
  // The zone text starts with the transfer's SOA only for a full zone; an
  // applied IXFR ends at its last step's serial, which is the announced one.
  if ((*zone)->apex() != apex) Fail("the transferred zone has another apex");
  if ((*zone)->serial() != reader.serial()) Fail("the transferred zone has another serial");
  return 0;
}
