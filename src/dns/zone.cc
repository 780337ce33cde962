#include "dns/zone.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace agility::dns {

RrsetView NodeView::Find(uint16_t type) const {
  RrsetView found;
  ForEachRrset([&](RrsetView rrset) {
    if (!found.valid() && rrset.type() == type) found = rrset;
  });
  return found;
}

size_t NodeView::size() const {
  const uint8_t* end = p_ + 3 + p_[1];
  ForEachRrset([&end](const RrsetView& rrset) { end = rrset.end(); });
  return static_cast<size_t>(end - p_);
}

uint32_t Zone::StepNode(uint32_t at) const { return at + static_cast<uint32_t>(NodeAt(at).size()); }

bool Zone::Visible(uint32_t at) const {
  if (base_ == nullptr) return true;
  const NodeView node = NodeAt(at);
  const uint32_t* own = nodes_.Find(node.name(), NameTable::Hash(node.name()),
                                    [this](uint32_t offset) { return NameAt(arena_, offset); });
  if (at < base_end_) return own == nullptr;
  return own != nullptr && *own == at - base_end_ && !(node.flags() & node_flag::kDeleted);
}

NodeView Zone::NsecFor(absl::string_view name) const {
  if (nsec_nodes_.empty()) return NodeView();
  // The first owner after `name`; the one before it covers or matches.
  const auto after = std::upper_bound(nsec_nodes_.begin(), nsec_nodes_.end(), name,
                                      [this](absl::string_view n, uint32_t at) {
                                        return CanonicalCompare(n, NameAt(arena_, at)) < 0;
                                      });
  const uint32_t at = after == nsec_nodes_.begin() ? nsec_nodes_.back() : *(after - 1);
  return NodeView(arena_.data() + at);
}

NodeView Zone::Nsec3For(absl::string_view name, bool* matches) const {
  *matches = false;
  if (nsec3_nodes_.empty()) return NodeView();
  uint8_t hash[kNsec3HashSize];
  Nsec3Hash(name, nsec3_params_, hash);
  const auto after = std::upper_bound(nsec3_nodes_.begin(), nsec3_nodes_.end(), hash,
                                      [](const uint8_t* h, const Nsec3Node& node) {
                                        return std::memcmp(h, node.hash, kNsec3HashSize) < 0;
                                      });
  const Nsec3Node& found = after == nsec3_nodes_.begin() ? nsec3_nodes_.back() : *(after - 1);
  *matches = std::memcmp(found.hash, hash, kNsec3HashSize) == 0;
  return NodeView(arena_.data() + found.offset);
}

FileStamp StampFile(const std::string& path) {
  FileStamp stamp;
  stamp.path = path;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return stamp;
  stamp.device = st.st_dev;
  stamp.inode = st.st_ino;
  stamp.size = static_cast<uint64_t>(st.st_size);
  stamp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return stamp;
}

bool Zone::Unchanged() const {
  if (files_.empty()) return false;
  for (const FileStamp& file : files_) {
    if (StampFile(file.path) != file) return false;
  }
  return true;
}

size_t Zone::memory_bytes() const {
  return arena_.capacity() + nodes_.memory_bytes() + apex_.capacity() +
         nsec_nodes_.capacity() * sizeof(uint32_t) + nsec3_nodes_.capacity() * sizeof(Nsec3Node) +
         (base_ != nullptr ? base_->memory_bytes() : 0);
}

}  // namespace agility::dns
