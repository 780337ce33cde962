/* Map layouts shared by the sk_lookup program and agilityd's loader. */
#ifndef AGILITY_BPF_SK_LOOKUP_MAPS_H
#define AGILITY_BPF_SK_LOOKUP_MAPS_H

#include <linux/types.h>

#define AGILITY_MAX_LABELS 256
#define AGILITY_MAX_BINDINGS 65536
#define AGILITY_LABEL_NAME_SIZE 32

/* LPM trie key. The trie matches the first `prefixlen` bits of everything
 * after it, so protocol and port (always matched whole) come first and the
 * address, IPv4 mapped into IPv6 (::ffff:a.b.c.d), last. */
struct agility_binding_key {
  __u32 prefixlen;
  __u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
  __u8 pad;
  __be16 port; /* 0 = any port */
  __u8 address[16];
};

/* Bits of agility_binding_key that precede the address. */
#define AGILITY_KEY_FIXED_BITS 32

/* Set in agility_binding_value.label for a draining binding: one whose
 * prefix is no longer answered, kept until the answers that carried it
 * expire. Its lookups are also counted apart. */
#define AGILITY_LABEL_DRAINING 0x80000000u

struct agility_binding_value {
  __u32 label; /* label id, | AGILITY_LABEL_DRAINING */
  /* The key's prefixlen again: the program compares the concrete-port match
   * with the any-port match by it. */
  __u32 prefixlen;
};

/* Per-label counters, one slot per CPU. */
struct agility_counters {
  __u64 lookups; /* packets that matched a binding of the label */
  __u64 misses;  /* ... and found no socket: dropped */
  __u64 errors;  /* ... and bpf_sk_assign failed: dropped */
};

/* A label has up to four sockets: {tcp, udp} x {IPv4, IPv6}. */
static inline __u32 agility_socket_key(__u32 label, int is_udp, int is_ipv6) {
  return label * 4 + (is_udp ? 2 : 0) + (is_ipv6 ? 1 : 0);
}

#endif
