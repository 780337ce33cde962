/* agility's UDP query filter: a socket filter on agilityd's DNS sockets that
 * admits queries to each destination address at a bounded rate. sk_lookup can
 * steer a whole prefix to these sockets; a flood aimed at one address is then
 * dropped here, in the kernel, instead of queueing in front of the queries to
 * every other address.
 *
 * Each address has a token bucket kept as one number (the generic cell rate
 * algorithm, as in agilityd's response rate limiter): the time at which it
 * will be full again. CPUs update it without a lock; a race admits a query
 * or two more, never fewer. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "query_filter_maps.h"

/* Set by agilityd (global data, mapped into its memory). 0: admit all. */
volatile __u64 interval_ns = 0; /* between queries at the configured rate */
volatile __u64 burst_ns = 0;    /* how far ahead of now full_at may run */

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, AGILITY_FILTER_ADDRESSES);
  __type(key, struct agility_filter_key);
  __type(value, __u64); /* full_at, ns of bpf_ktime_get_ns */
} destinations SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct agility_filter_counters);
} filter_counters SEC(".maps");

static __always_inline int count(int passed, int verdict) {
  __u32 zero = 0;
  struct agility_filter_counters *c = bpf_map_lookup_elem(&filter_counters, &zero);
  if (c) {
    if (passed)
      c->passed++;
    else
      c->dropped++;
  }
  return verdict;
}

SEC("socket")
int query_filter(struct __sk_buff *skb) {
  const int keep = skb->len; /* a socket filter returns how much to keep */
  const __u64 interval = interval_ns;
  if (interval == 0) return keep;

  struct agility_filter_key key = {};
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    key.address[10] = 0xff;
    key.address[11] = 0xff;
    /* The IPv4 destination address is at offset 16 of the header. */
    if (bpf_skb_load_bytes_relative(skb, 16, &key.address[12], 4, BPF_HDR_START_NET))
      return keep;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    /* The IPv6 destination address is at offset 24. */
    if (bpf_skb_load_bytes_relative(skb, 24, key.address, 16, BPF_HDR_START_NET)) return keep;
  } else {
    return keep;
  }

  const __u64 now = bpf_ktime_get_ns();
  __u64 *full_at = bpf_map_lookup_elem(&destinations, &key);
  if (!full_at) {
    __u64 first = now + interval;
    bpf_map_update_elem(&destinations, &key, &first, BPF_ANY);
    return count(1, keep);
  }
  const __u64 seen = *full_at;
  if (seen > now && seen - now > burst_ns) return count(0, 0);
  if (seen < now) *full_at = now;
  __sync_fetch_and_add(full_at, interval);
  return count(1, keep);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
