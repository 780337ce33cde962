#include "dns/zone.h"

namespace agility::dns {

RrsetView NodeView::Find(uint16_t type) const {
  RrsetView found;
  ForEachRrset([&](RrsetView rrset) {
    if (!found.valid() && rrset.type() == type) found = rrset;
  });
  return found;
}

NodeView Zone::Find(absl::string_view name) const {
  const auto it = nodes_.find(name);
  return it == nodes_.end() ? NodeView() : NodeView(arena_.data() + *it);
}

size_t Zone::memory_bytes() const {
  return arena_.capacity() + nodes_.capacity() * (sizeof(uint32_t) + 1) + apex_.capacity();
}

}  // namespace agility::dns
