#include "daemon/zone_state.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "daemon/log.h"
#include "dns/name.h"

namespace agility::daemon {

std::string ZoneFileStem(absl::string_view apex) {
  std::string text = dns::NameToText(apex);
  if (text == ".") return "root";
  text.pop_back();
  std::string file;
  for (const char c : text) {
    const bool plain =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    file += plain ? std::string(1, c)
                  : absl::StrCat("%", absl::Hex(static_cast<uint8_t>(c), absl::kZeroPad2));
  }
  return file;
}

namespace {

std::shared_ptr<const dns::Journal> ReadJournalFile(const StateDir& state, absl::string_view apex,
                                                    size_t max_bytes) {
  const std::string name = ZoneFileStem(apex) + ".ixfr";
  auto bytes = state.Read(name);
  if (!bytes.ok() || !bytes->has_value()) return nullptr;
  auto journal = dns::Journal::Parse(**bytes, max_bytes);
  if (!journal.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("IXFR journal ", state.FilePath(name),
                                         " ignored: ", journal.status().message()));
    return nullptr;
  }
  return *std::move(journal);
}

}  // namespace

std::shared_ptr<const dns::Journal> ReadJournal(const StateDir& state, const dns::Zone& zone,
                                                size_t max_bytes) {
  auto journal = ReadJournalFile(state, zone.apex(), max_bytes);
  if (journal == nullptr || journal->last_serial() != zone.serial()) return nullptr;
  return journal;  // else the zone moved on without it
}

std::shared_ptr<const dns::Journal> ReadJournalOnFrom(const StateDir& state, const dns::Zone& zone,
                                                      size_t max_bytes) {
  auto journal = ReadJournalFile(state, zone.apex(), max_bytes);
  if (journal == nullptr) return nullptr;
  if (journal->last_serial() != zone.serial() && journal->From(zone.serial()).empty()) {
    return nullptr;
  }
  return journal;
}

absl::Status WriteJournal(const StateDir& state, absl::string_view apex,
                          const dns::Journal& journal, bool synced) {
  return state.Write(ZoneFileStem(apex) + ".ixfr", journal.Serialize(), synced);
}

void RemoveJournal(const StateDir& state, absl::string_view apex) {
  unlink(state.FilePath(ZoneFileStem(apex) + ".ixfr").c_str());
}

}  // namespace agility::daemon
