/* agility's sk_lookup dispatcher: steers packets for bound (protocol,
 * prefix, port) triples to the socket registered for the binding's label.
 * A binding without a socket fails closed (drop, counted); traffic without a
 * binding takes the kernel's normal lookup. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sk_lookup_maps.h"

#define AF_INET 2
#define AF_INET6 10

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, AGILITY_MAX_BINDINGS);
  __type(key, struct agility_binding_key);
  __type(value, struct agility_binding_value);
} bindings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_SOCKMAP);
  __uint(max_entries, AGILITY_MAX_LABELS * 4);
  __type(key, __u32);
  __type(value, __u64);
} sockets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, AGILITY_MAX_LABELS);
  __type(key, __u32);
  __type(value, struct agility_counters);
} counters SEC(".maps");

/* Lookups that matched a draining binding, per label and CPU. A map of its
 * own, so that maps pinned by an earlier version keep their layout. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, AGILITY_MAX_LABELS);
  __type(key, __u32);
  __type(value, __u64);
} drain_lookups SEC(".maps");

/* Label names by id, so that ids survive agilityd restarts with the pins. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, AGILITY_MAX_LABELS);
  __type(key, __u32);
  __type(value, char[AGILITY_LABEL_NAME_SIZE]);
} labels SEC(".maps");

SEC("sk_lookup")
int agility_dispatch(struct bpf_sk_lookup *ctx) {
  struct agility_binding_key key = {};
  key.protocol = (__u8)ctx->protocol;
  key.port = bpf_htons((__u16)ctx->local_port);
  if (ctx->family == AF_INET) {
    key.address[10] = 0xff;
    key.address[11] = 0xff;
    __builtin_memcpy(&key.address[12], &ctx->local_ip4, 4);
  } else if (ctx->family == AF_INET6) {
    __builtin_memcpy(key.address, ctx->local_ip6, 16);
  } else {
    return SK_PASS;
  }
  key.prefixlen = AGILITY_KEY_FIXED_BITS + 128;

  const struct agility_binding_value *concrete = bpf_map_lookup_elem(&bindings, &key);
  key.port = 0;
  const struct agility_binding_value *any = bpf_map_lookup_elem(&bindings, &key);
  /* Longest prefix wins; on equal prefixes the concrete port wins. */
  const struct agility_binding_value *chosen = concrete;
  if (any && (!concrete || any->prefixlen > concrete->prefixlen)) chosen = any;
  if (!chosen) return SK_PASS;

  const __u32 label = chosen->label & ~AGILITY_LABEL_DRAINING;
  struct agility_counters *counter = bpf_map_lookup_elem(&counters, &label);
  if (counter) counter->lookups++;
  if (chosen->label & AGILITY_LABEL_DRAINING) {
    __u64 *drained = bpf_map_lookup_elem(&drain_lookups, &label);
    if (drained) (*drained)++;
  }

  const __u32 socket_key =
      agility_socket_key(label, ctx->protocol == IPPROTO_UDP, ctx->family == AF_INET6);
  struct bpf_sock *sk = bpf_map_lookup_elem(&sockets, &socket_key);
  if (!sk) {
    if (counter) counter->misses++;
    return SK_DROP;
  }
  const long err = bpf_sk_assign(ctx, sk, 0);
  bpf_sk_release(sk);
  if (err) {
    if (counter) counter->errors++;
    return SK_DROP;
  }
  return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
