#include "dns/catalog.h"

#include <openssl/evp.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

// `name` without its first label.
absl::string_view Parent(absl::string_view name) {
  return name.substr(1 + static_cast<uint8_t>(name[0]));
}

absl::string_view FirstLabel(absl::string_view name) {
  return name.substr(1, static_cast<uint8_t>(name[0]));
}

}  // namespace

absl::StatusOr<CatalogMembers> ReadCatalog(const Zone& catalog, size_t max_zones) {
  const std::string apex(catalog.apex());
  const std::string zones_node = "\x05zones" + apex;
  const std::string where = absl::StrCat("catalog ", NameToText(apex), ": ");
  // RFC 9432 §4.2.1: the schema version, exactly one TXT record "2".
  const NodeView version = catalog.Find("\x07version" + apex);
  const RrsetView txt = version.valid() ? version.Find(type::kTxt) : RrsetView();
  constexpr char kVersion2[] = {1, '2'};  // one character-string: "2"
  if (!txt.valid() || txt.count() != 1 ||
      AsChars(txt.records() + 2, ReadU16(txt.records())) != absl::string_view(kVersion2, 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "no version.", NameToText(apex), " TXT \"2\" (RFC 9432 §4.2.1)"));
  }
  CatalogMembers members;
  absl::flat_hash_set<std::string> seen;
  size_t coo = 0, group = 0;
  absl::Status broken = absl::OkStatus();
  catalog.ForEachNode([&](const NodeView& node) {
    const absl::string_view name = node.name();
    if (!broken.ok() || name.size() <= zones_node.size() || !absl::EndsWith(name, zones_node)) {
      return;
    }
    const absl::string_view above = Parent(name);
    if (above == zones_node) {
      // A member node: <unique-N>.zones.<catalog> PTR <member zone>.
      const RrsetView ptr = node.Find(type::kPtr);
      if (!ptr.valid()) return;  // an empty non-terminal, or other data
      if (ptr.count() != 1) {
        members.notes.push_back(absl::StrCat(where, "member ", NameToText(name), " has ",
                                             ptr.count(), " PTR records; left out"));
        return;
      }
      std::string member(AsChars(ptr.records() + 2, ReadU16(ptr.records())));
      for (char& c : member) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
      if (member == apex || !seen.insert(member).second) {
        members.notes.push_back(absl::StrCat(
            where, "zone ", NameToText(member),
            member == apex ? " is the catalog itself" : " is listed twice", "; left out"));
        return;
      }
      if (members.zones.size() == max_zones) {
        broken = absl::ResourceExhaustedError(
            absl::StrCat(where, "more than ", max_zones, " member zones (max_zones)"));
        return;
      }
      members.zones.push_back(std::move(member));
      return;
    }
    if (Parent(above) != zones_node) return;
    // A property of a member: <property>.<unique-N>.zones.<catalog>.
    const absl::string_view property = FirstLabel(name);
    if (absl::EqualsIgnoreCase(property, "coo") && node.Find(type::kPtr).valid()) ++coo;
    if (absl::EqualsIgnoreCase(property, "group") && node.Find(type::kTxt).valid()) ++group;
  });
  if (!broken.ok()) return broken;
  if (coo > 0) {
    members.notes.push_back(absl::StrCat(
        where, coo,
        " change-of-ownership (coo) properties not honoured: the members stay in this catalog"));
  }
  if (group > 0) {
    members.notes.push_back(
        absl::StrCat(where, group, " group properties ignored: every member is served alike"));
  }
  return members;
}

std::string CatalogZoneText(absl::string_view apex, const std::vector<std::string>& members,
                            uint32_t serial) {
  const std::string origin = NameToText(apex);
  std::string out = absl::StrCat("$ORIGIN ", origin, "\n@ 0 SOA invalid. invalid. ", serial,
                                 " 60 10 1209600 0\n@ 0 NS invalid.\nversion 0 TXT \"2\"\n");
  for (size_t i = 0; i < members.size(); ++i) {
    std::string lower = members[i];
    for (char& c : lower) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    // Should OpenSSL fail, the label is still unique, if not stable.
    const std::string label =
        EVP_Digest(lower.data(), lower.size(), digest, &size, EVP_sha1(), nullptr) == 1
            ? absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size))
            : absl::StrCat("m", i);
    absl::StrAppend(&out, label, ".zones 0 PTR ", NameToText(lower), "\n");
  }
  return out;
}

}  // namespace agility::dns
