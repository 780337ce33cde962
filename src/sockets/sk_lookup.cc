#include "sockets/sk_lookup.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sk_lookup.skel.h"
#include "sk_lookup_maps.h"
#include "sockets/socket_facts.h"

namespace agility::sockets {
namespace {

using BindingKey = agility_binding_key;
using BindingValue = agility_binding_value;

// The errno's own code (EPERM, ENOENT, EEXIST stay distinct), with `what`.
absl::Status Errno(absl::string_view what) { return absl::ErrnoToStatus(errno, what); }

bool OnBpffs(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

// Like bpftool: mount bpffs on /sys/fs/bpf when it is missing there.
absl::Status EnsureBpffs(const std::string& pin_dir) {
  std::filesystem::path dir(pin_dir);
  std::filesystem::path parent = dir.parent_path();
  if (OnBpffs(pin_dir) || OnBpffs(parent.string())) return absl::OkStatus();
  if (parent == "/sys/fs/bpf") {
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
      return Errno("mount -t bpf bpf /sys/fs/bpf");
    }
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      parent.string(), " is not on a bpf filesystem; run: mount -t bpf bpf ", parent.string()));
}

int LibbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  std::fputs("libbpf: ", stderr);
  return std::vfprintf(stderr, format, args);
}

BindingKey KeyOf(const Binding& b) {
  BindingKey key = {};
  key.prefixlen = AGILITY_KEY_FIXED_BITS + static_cast<uint32_t>(b.mapped_length());
  key.protocol = static_cast<uint8_t>(b.protocol);
  key.port = htons(b.port);
  uint8_t address[16];
  b.MappedAddress(address);
  std::memcpy(key.address, address, 16);
  return key;
}

std::string KeyBytes(const BindingKey& key) {
  return std::string(reinterpret_cast<const char*>(&key), sizeof(key));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SkLookup>> SkLookup::Attach(const std::string& pin_dir) {
  libbpf_set_print(LibbpfLog);
  if (auto status = EnsureBpffs(pin_dir); !status.ok()) return status;
  if (mkdir(pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("mkdir ", pin_dir));
  }
  std::unique_ptr<SkLookup> self(new SkLookup());
  self->pin_dir_ = pin_dir;
  self->skel_ = agility_bpf__open();
  if (self->skel_ == nullptr) return Errno("opening the sk_lookup program");
  bpf_map* maps[] = {self->skel_->maps.bindings, self->skel_->maps.sockets,
                     self->skel_->maps.counters, self->skel_->maps.labels,
                     self->skel_->maps.drain_lookups};
  for (bpf_map* map : maps) {
    const std::string path = absl::StrCat(pin_dir, "/", bpf_map__name(map));
    if (bpf_map__set_pin_path(map, path.c_str()) != 0) return Errno("bpf_map__set_pin_path");
  }
  // Reuses maps already pinned there (a previous agilityd), or pins new ones.
  if (const int err = agility_bpf__load(self->skel_); err != 0) {
    errno = -err;
    return Errno(absl::StrCat("loading the sk_lookup program (pinned maps in ", pin_dir,
                              " from an incompatible version? remove them)"));
  }
  const std::string link_path = pin_dir + "/link";
  bpf_program* program = self->skel_->progs.agility_dispatch;
  if (access(link_path.c_str(), F_OK) == 0) {
    self->link_ = bpf_link__open(link_path.c_str());
    if (self->link_ == nullptr) return Errno(absl::StrCat("opening pinned link ", link_path));
    if (const int err = bpf_link__update_program(self->link_, program); err != 0) {
      errno = -err;
      return Errno("replacing the attached sk_lookup program");
    }
  } else {
    const int netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (netns < 0) return Errno("open /proc/self/ns/net");
    self->link_ = bpf_program__attach_netns(program, netns);
    close(netns);
    if (self->link_ == nullptr) return Errno("attaching sk_lookup to the network namespace");
    if (const int err = bpf_link__pin(self->link_, link_path.c_str()); err != 0) {
      errno = -err;
      return Errno(absl::StrCat("pinning ", link_path));
    }
  }
  // The pins let anyone who can open them rewrite steering: root's only. A
  // pin left open to others is a failure, not a detail.
  for (bpf_map* map : maps) {
    if (chmod(bpf_map__pin_path(map), 0600) != 0) {
      return Errno(absl::StrCat("chmod 0600 ", bpf_map__pin_path(map)));
    }
  }
  if (chmod(link_path.c_str(), 0600) != 0) return Errno(absl::StrCat("chmod 0600 ", link_path));
  return self;
}

SkLookup::~SkLookup() {
  // The pins keep program, maps and link alive: steering continues.
  if (link_ != nullptr) bpf_link__disconnect(link_);
  if (link_ != nullptr) bpf_link__destroy(link_);
  if (skel_ != nullptr) agility_bpf__destroy(skel_);
}

std::vector<std::string> SkLookup::LabelNames() const {
  std::vector<std::string> names(AGILITY_MAX_LABELS);
  const int fd = bpf_map__fd(skel_->maps.labels);
  for (uint32_t id = 0; id < AGILITY_MAX_LABELS; ++id) {
    char name[AGILITY_LABEL_NAME_SIZE] = {};
    if (bpf_map_lookup_elem(fd, &id, name) == 0) {
      names[id] = std::string(name, strnlen(name, sizeof(name)));
    }
  }
  return names;
}

absl::StatusOr<uint32_t> SkLookup::LabelId(const std::string& label) const {
  const std::vector<std::string> names = LabelNames();
  for (uint32_t id = 0; id < AGILITY_MAX_LABELS; ++id) {
    if (names[id] == label) return id;
  }
  return absl::NotFoundError(absl::StrCat("unknown label '", label, "'"));
}

absl::Status SkLookup::WriteLabel(uint32_t id, const std::string& label) {
  char name[AGILITY_LABEL_NAME_SIZE] = {};
  std::memcpy(name, label.data(), std::min(label.size(), sizeof(name) - 1));
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.labels), &id, name, BPF_ANY) != 0) {
    return Errno("writing labels");
  }
  return absl::OkStatus();
}

void SkLookup::FreeLabel(uint32_t id) {
  // Its sockets and counters go too, so that a label given the id later
  // starts clean.
  for (int slot = 0; slot < 4; ++slot) {
    const uint32_t key = id * 4 + static_cast<uint32_t>(slot);
    bpf_map_delete_elem(bpf_map__fd(skel_->maps.sockets), &key);
  }
  const int cpus = libbpf_num_possible_cpus();
  std::vector<agility_counters> zeros(cpus > 0 ? cpus : 1);
  bpf_map_update_elem(bpf_map__fd(skel_->maps.counters), &id, zeros.data(), BPF_ANY);
  std::vector<uint64_t> zero_drains(cpus > 0 ? cpus : 1);
  bpf_map_update_elem(bpf_map__fd(skel_->maps.drain_lookups), &id, zero_drains.data(), BPF_ANY);
  WriteLabel(id, "").IgnoreError();
}

absl::Status SkLookup::Sync(const std::vector<std::string>& labels,
                            const std::vector<Binding>& bindings, Gaps gaps) {
  // Everything is planned before the first write: label ids, then bindings.
  const absl::flat_hash_set<std::string> kept(labels.begin(), labels.end());
  std::vector<std::string> names = LabelNames();
  absl::flat_hash_map<std::string, uint32_t> ids;
  for (uint32_t id = 0; id < AGILITY_MAX_LABELS; ++id) {
    if (!names[id].empty()) ids[names[id]] = id;
  }
  std::vector<uint32_t> created;
  uint32_t next_free = 0;
  for (const std::string& label : labels) {
    if (ids.contains(label)) continue;
    if (label.empty() || label.size() >= AGILITY_LABEL_NAME_SIZE) {
      return absl::InvalidArgumentError(absl::StrCat("bad label '", label, "'"));
    }
    while (next_free < AGILITY_MAX_LABELS && !names[next_free].empty()) ++next_free;
    if (next_free == AGILITY_MAX_LABELS) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no free sk_lookup label id for '", label,
                       "': the labels in force and the new ones exceed ", AGILITY_MAX_LABELS));
    }
    names[next_free] = label;
    ids[label] = next_free;
    created.push_back(next_free);
  }

  const int fd = bpf_map__fd(skel_->maps.bindings);
  absl::flat_hash_map<std::string, BindingValue> current;
  {
    BindingKey key;
    BindingKey* previous = nullptr;
    while (bpf_map_get_next_key(fd, previous, &key) == 0) {
      previous = &key;
      BindingValue value;
      if (bpf_map_lookup_elem(fd, &key, &value) == 0) current[KeyBytes(key)] = value;
    }
  }
  absl::flat_hash_map<std::string, size_t> wanted;  // key -> its entry in `order`
  std::vector<std::pair<BindingKey, BindingValue>> order;
  for (const Binding& b : bindings) {
    const auto id = ids.find(b.label);
    if (id == ids.end() || !kept.contains(b.label)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown label '", b.label, "'"));
    }
    const BindingKey key = KeyOf(b);
    const BindingValue value = {id->second | (b.draining ? AGILITY_LABEL_DRAINING : 0u),
                                key.prefixlen};
    // A key given twice: the last one wins.
    const auto [at, inserted] = wanted.try_emplace(KeyBytes(key), order.size());
    if (inserted) {
      order.emplace_back(key, value);
    } else {
      order[at->second].second = value;
    }
  }
  if (wanted.size() > AGILITY_MAX_BINDINGS) {
    return absl::ResourceExhaustedError(
        absl::StrCat(wanted.size(), " sk_lookup bindings; at most ", AGILITY_MAX_BINDINGS, " fit"));
  }
  std::vector<BindingKey> stale;
  for (const auto& [bytes, value] : current) {
    if (wanted.contains(bytes)) continue;
    BindingKey key;
    std::memcpy(&key, bytes.data(), sizeof(key));
    stale.push_back(key);
  }
  const size_t added = wanted.size() - (current.size() - stale.size());
  const bool stale_first = current.size() + added > AGILITY_MAX_BINDINGS;
  if (stale_first && gaps == Gaps::kNever) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the ", current.size(), " sk_lookup bindings in force and the ", added,
        " new ones exceed the map's ", AGILITY_MAX_BINDINGS,
        ", and none may go before its replacement is in: nothing was changed; reload in "
        "smaller steps, or restart (a start removes stale bindings first)"));
  }

  for (uint32_t id : created) {
    if (auto status = WriteLabel(id, names[id]); !status.ok()) {
      for (uint32_t undo : created) WriteLabel(undo, "").IgnoreError();
      return status;
    }
  }
  const auto remove_stale = [&]() -> absl::Status {
    for (const BindingKey& key : stale) {
      if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT) return Errno("removing a binding");
    }
    return absl::OkStatus();
  };
  // Without room for both, stale entries go first: an address moving between
  // bindings is unsteered until its new one is in.
  if (stale_first) {
    if (auto status = remove_stale(); !status.ok()) return status;
  }
  // Most specific first: no address falls back to a shorter prefix of another
  // label while the map changes.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first.prefixlen > b.first.prefixlen;
  });
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& [key, value] = order[i];
    const auto old = current.find(KeyBytes(key));
    if (old != current.end() && std::memcmp(&old->second, &value, sizeof(value)) == 0) continue;
    if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) == 0) continue;
    const absl::Status failed = Errno("updating bindings");
    // Back to what was in force.
    for (size_t j = 0; j < i; ++j) {
      const BindingKey& undo = order[j].first;
      const auto before = current.find(KeyBytes(undo));
      if (before == current.end()) {
        bpf_map_delete_elem(fd, &undo);
      } else {
        bpf_map_update_elem(fd, &undo, &before->second, BPF_ANY);
      }
    }
    for (uint32_t undo : created) WriteLabel(undo, "").IgnoreError();
    return failed;
  }
  if (!stale_first) {
    if (auto status = remove_stale(); !status.ok()) return status;
  }
  // Labels no longer named are free again: none of their bindings is left.
  for (uint32_t id = 0; id < AGILITY_MAX_LABELS; ++id) {
    if (!names[id].empty() && !kept.contains(names[id])) FreeLabel(id);
  }
  return absl::OkStatus();
}

absl::Status SkLookup::Register(const std::string& label, int fd) {
  auto facts = InspectSocket(fd);
  if (!facts.ok()) return facts.status();
  if (auto status = CheckSteerable(*facts); !status.ok()) return status;
  auto id = LabelId(label);
  if (!id.ok()) return id.status();
  const uint32_t key =
      agility_socket_key(*id, facts->protocol == config::Protocol::kUdp, facts->family == AF_INET6);
  const uint64_t value = static_cast<uint64_t>(fd);
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.sockets), &key, &value, BPF_ANY) != 0) {
    return Errno(absl::StrCat("inserting ", facts->Describe(), " into the socket map"));
  }
  return absl::OkStatus();
}

std::vector<LabelStatus> SkLookup::Labels() const {
  std::vector<LabelStatus> out;
  const int label_fd = bpf_map__fd(skel_->maps.labels);
  const int socket_fd = bpf_map__fd(skel_->maps.sockets);
  const int counter_fd = bpf_map__fd(skel_->maps.counters);
  const int cpus = libbpf_num_possible_cpus();
  std::vector<agility_counters> per_cpu(cpus > 0 ? cpus : 1);
  const int drain_fd = bpf_map__fd(skel_->maps.drain_lookups);
  std::vector<uint64_t> drained(cpus > 0 ? cpus : 1);
  for (uint32_t id = 0; id < AGILITY_MAX_LABELS; ++id) {
    char name[AGILITY_LABEL_NAME_SIZE] = {};
    if (bpf_map_lookup_elem(label_fd, &id, name) != 0 || name[0] == '\0') continue;
    LabelStatus s;
    s.label = std::string(name, strnlen(name, sizeof(name)));
    s.id = id;
    // Order {tcp4, tcp6, udp4, udp6} matches agility_socket_key.
    for (int slot = 0; slot < 4; ++slot) {
      const uint32_t key = id * 4 + static_cast<uint32_t>(slot);
      uint64_t cookie = 0;
      if (bpf_map_lookup_elem(socket_fd, &key, &cookie) == 0) s.cookies[slot] = cookie;
    }
    if (bpf_map_lookup_elem(counter_fd, &id, per_cpu.data()) == 0) {
      for (const agility_counters& c : per_cpu) {
        s.lookups += c.lookups;
        s.misses += c.misses;
        s.errors += c.errors;
      }
    }
    if (bpf_map_lookup_elem(drain_fd, &id, drained.data()) == 0) {
      for (const uint64_t n : drained) s.drain_lookups += n;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Binding> SkLookup::Bindings() const {
  std::vector<Binding> out;
  absl::flat_hash_map<uint32_t, std::string> names;
  for (const LabelStatus& s : Labels()) names[s.id] = s.label;
  const int fd = bpf_map__fd(skel_->maps.bindings);
  BindingKey key;
  BindingKey* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &key) == 0) {
    previous = &key;
    BindingValue value;
    if (bpf_map_lookup_elem(fd, &key, &value) != 0) continue;
    Binding b;
    const uint32_t label = value.label & ~AGILITY_LABEL_DRAINING;
    b.draining = (value.label & AGILITY_LABEL_DRAINING) != 0;
    b.label = names.contains(label) ? names[label] : absl::StrCat("#", label);
    b.protocol = static_cast<config::Protocol>(key.protocol);
    b.port = ntohs(key.port);
    const int length = static_cast<int>(key.prefixlen) - AGILITY_KEY_FIXED_BITS;
    const bool mapped =
        length >= 96 && key.address[10] == 0xff && key.address[11] == 0xff &&
        std::all_of(key.address, key.address + 10, [](uint8_t x) { return x == 0; });
    b.prefix.ipv4 = mapped;
    if (mapped) {
      std::memcpy(b.prefix.bytes, key.address + 12, 4);
      b.prefix.length = static_cast<uint8_t>(length - 96);
    } else {
      std::memcpy(b.prefix.bytes, key.address, 16);
      b.prefix.length = static_cast<uint8_t>(length);
    }
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const Binding& a, const Binding& b) {
    return std::tie(a.label, a.port) < std::tie(b.label, b.port);
  });
  return out;
}

}  // namespace agility::sockets
