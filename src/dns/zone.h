// A zone compiled for answering: every owner name in one flat arena, each
// followed by its RRsets with RDATA already in wire form, and an
// open-addressing table of arena offsets keyed by name. No per-name objects.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "dns/name.h"
#include "dns/name_table.h"
#include "dns/nsec3.h"
#include "dns/wire.h"

namespace agility::dns {

// An allocator whose resize leaves new elements default-initialized: for
// bytes, as they come. An arena is sized once, then written front to back;
// zeroing it first would make all of its pages resident while the records it
// is built from still are.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  template <typename U>
  void construct(U* p) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Arena = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

// Node flags, computed once at load.
namespace node_flag {
inline constexpr uint8_t kApex = 1;
inline constexpr uint8_t kDelegation = 2;  // NS below the apex: a zone cut
inline constexpr uint8_t kBelowCut = 4;    // strictly below a zone cut (glue)
inline constexpr uint8_t kWildcard = 8;    // owner is "*.<parent>"
// Some name lies below. Set at build, never cleared by an overlay (it may
// then be stale, which only makes an overlay decline a deletion).
inline constexpr uint8_t kHasChildren = 16;
inline constexpr uint8_t kDeleted = 32;  // in an overlay: gone from its base
}  // namespace node_flag

// One RRset inside the arena: type, TTL, count, then count x (rdlength, rdata).
class RrsetView {
 public:
  RrsetView() = default;
  explicit RrsetView(const uint8_t* p) : p_(p) {}
  bool valid() const { return p_ != nullptr; }
  uint16_t type() const { return ReadU16(p_); }
  uint32_t ttl() const { return ReadU32(p_ + 2); }
  uint16_t count() const { return ReadU16(p_ + 6); }
  uint32_t data_size() const { return ReadU32(p_ + 8); }
  // First record: [rdlength u16][rdata]; the next follows immediately.
  const uint8_t* records() const { return p_ + kHeader; }
  const uint8_t* end() const { return records() + data_size(); }

  static constexpr size_t kHeader = 12;

 private:
  const uint8_t* p_ = nullptr;
};

// A name's entry in the arena: flags, name, RRset count, RRsets.
class NodeView {
 public:
  NodeView() = default;
  explicit NodeView(const uint8_t* p) : p_(p) {}
  bool valid() const { return p_ != nullptr; }
  // Identity of the node within its zone.
  const void* id() const { return p_; }
  uint8_t flags() const { return p_[0]; }
  absl::string_view name() const { return AsChars(p_ + 2, p_[1]); }
  int rrset_count() const { return p_[2 + p_[1]]; }
  // Bytes the node takes in its arena, RRsets included.
  size_t size() const;
  RrsetView Find(uint16_t type) const;
  // Visits RRsets in stored order.
  template <typename Fn>
  void ForEachRrset(Fn&& fn) const {
    const uint8_t* p = p_ + 3 + p_[1];
    for (int i = 0; i < rrset_count(); ++i) {
      RrsetView rrset(p);
      fn(rrset);
      p = rrset.end();
    }
  }

 private:
  const uint8_t* p_ = nullptr;
};

// Identifies one version of a file a zone was read from ($INCLUDEs too), so
// that a reload can tell an unchanged zone without reading it.
struct FileStamp {
  std::string path;
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// Stamps of the file as it is now; an unreadable file gets an empty stamp.
FileStamp StampFile(const std::string& path);

class Zone {
 public:
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  absl::string_view apex() const { return apex_; }
  int apex_labels() const { return apex_labels_; }
  NodeView apex_node() const { return apex_node_; }
  uint32_t serial() const { return serial_; }
  // TTL of negative answers: min(SOA TTL, SOA MINIMUM) per RFC 2308 §5.
  uint32_t negative_ttl() const { return negative_ttl_; }
  bool has_delegations() const { return has_delegations_; }
  // Any DNAME: only then do lookups look for one above the name.
  bool has_dnames() const { return has_dnames_; }
  // Owner names, empty non-terminals excluded.
  size_t name_count() const { return name_count_; }
  size_t record_count() const { return record_count_; }
  size_t memory_bytes() const;
  const std::string& source() const { return source_; }

  // Exact lookup of a lowercase wire name.
  NodeView Find(absl::string_view name) const { return Find(name, NameTable::Hash(name)); }

  // An overlay (ZoneBuilder::BuildOverlay): a compiled base zone, shared,
  // with the nodes an incremental change rewrote, added or deleted kept in
  // this zone's own small arena, which lookups read first.
  const Zone* base() const { return base_.get(); }
  size_t overlay_bytes() const { return base_ != nullptr ? arena_.size() : 0; }

  // Every node, empty non-terminals included (they have no RRsets): from
  // FirstNode(), NextNode until node_end(). A position is an arena offset;
  // an overlay numbers its own nodes after its base's. Not for the hot path.
  uint32_t node_end() const { return base_end_ + static_cast<uint32_t>(arena_.size()); }
  uint32_t FirstNode() const { return node_end() == 0 || Visible(0) ? 0 : NextNode(0); }
  uint32_t NextNode(uint32_t at) const {
    do {
      at = StepNode(at);
    } while (at < node_end() && !Visible(at));
    return at;
  }
  // The node at a position (as ZoneBuilder wrote it).
  NodeView NodeAt(uint32_t at) const {
    return at < base_end_ ? base_->NodeAt(at) : NodeView(arena_.data() + (at - base_end_));
  }
  // The position of a node of this zone (the inverse of NodeAt).
  uint32_t PositionOf(const NodeView& node) const {
    const auto* p = static_cast<const uint8_t*>(node.id());
    if (p >= arena_.data() && p < arena_.data() + arena_.size()) {
      return base_end_ + static_cast<uint32_t>(p - arena_.data());
    }
    return base_->PositionOf(node);
  }
  template <typename Fn>
  void ForEachNode(Fn&& fn) const {
    for (uint32_t at = FirstNode(); at < node_end(); at = NextNode(at)) fn(NodeAt(at));
  }

  // Findings about the DNSSEC data of a zone signed ahead: "file:line: ..."
  // (src/dns/signed_zone_check.h). The zone serves regardless; --check fails
  // on errors.
  const std::vector<std::string>& dnssec_errors() const { return dnssec_errors_; }
  const std::vector<std::string>& dnssec_warnings() const { return dnssec_warnings_; }

  // DNSSEC, for zones signed ahead (their file holds the signatures): the
  // apex has a DNSKEY and its signatures.
  bool is_signed() const { return signed_; }
  // The node whose NSEC matches or covers `name` (lowercase wire, at or below
  // the apex): the last NSEC owner at or before it in canonical order.
  // Invalid when the zone has no NSEC.
  NodeView NsecFor(absl::string_view name) const;
  // NSEC3 (RFC 5155), when the apex has an NSEC3PARAM: the node whose NSEC3
  // matches the hash of `name`, or the one whose NSEC3 covers it (the last
  // hash before it, around the ring); `matches` tells which.
  bool has_nsec3() const { return !nsec3_nodes_.empty(); }
  NodeView Nsec3For(absl::string_view name, bool* matches) const;

  // The files read to build this zone, as they were just before reading.
  const std::vector<FileStamp>& files() const { return files_; }
  void set_files(std::vector<FileStamp> files) { files_ = std::move(files); }
  double load_seconds() const { return load_seconds_; }
  void set_load_seconds(double seconds) { load_seconds_ = seconds; }
  // True when every file is still as it was when the zone was read.
  bool Unchanged() const;

 private:
  friend class ZoneBuilder;
  friend class SignedZoneCheck;
  Zone() = default;

  static absl::string_view NameAt(const Arena& arena, uint32_t offset) {
    return AsChars(arena.data() + offset + 2, arena[offset + 1]);
  }
  NodeView Find(absl::string_view name, uint64_t hash) const {
    const uint32_t* offset =
        nodes_.Find(name, hash, [this](uint32_t at) { return NameAt(arena_, at); });
    if (offset != nullptr) {
      const NodeView node(arena_.data() + *offset);
      return node.flags() & node_flag::kDeleted ? NodeView() : node;
    }
    return base_ != nullptr ? base_->Find(name, hash) : NodeView();
  }
  // The position after the node at `at`, hidden or not.
  uint32_t StepNode(uint32_t at) const;
  // False for an overlay's deleted and superseded nodes, and for base nodes
  // the overlay replaces.
  bool Visible(uint32_t at) const;

  std::string apex_;
  std::string source_;
  int apex_labels_ = 0;
  NodeView apex_node_;
  uint32_t serial_ = 0;
  uint32_t negative_ttl_ = 0;
  bool has_delegations_ = false;
  bool has_dnames_ = false;
  bool signed_ = false;
  std::vector<std::string> dnssec_errors_;
  std::vector<std::string> dnssec_warnings_;
  std::vector<uint32_t> nsec_nodes_;  // arena offsets of NSEC owners, in canonical order
  struct Nsec3Node {
    uint8_t hash[kNsec3HashSize];
    uint32_t offset;
  };
  Nsec3Params nsec3_params_;
  std::vector<Nsec3Node> nsec3_nodes_;  // NSEC3 owners with the zone's parameters, by hash
  size_t name_count_ = 0;
  size_t record_count_ = 0;
  std::vector<FileStamp> files_;
  double load_seconds_ = 0;
  Arena arena_;
  NameTable nodes_;                   // arena offsets of the nodes, by name
  std::shared_ptr<const Zone> base_;  // an overlay's base, which has none
  uint32_t base_end_ = 0;             // base_->node_end()
};

}  // namespace agility::dns
