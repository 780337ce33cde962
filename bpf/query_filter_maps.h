/* Map layouts shared by the query filter program and agilityd's loader. */
#ifndef AGILITY_BPF_QUERY_FILTER_MAPS_H
#define AGILITY_BPF_QUERY_FILTER_MAPS_H

#include <linux/types.h>

/* Destination addresses tracked at once; the least recently used is
 * forgotten first, which only forgives it its debt. */
#define AGILITY_FILTER_ADDRESSES 65536

/* A destination address, IPv4 mapped into IPv6 (::ffff:a.b.c.d). */
struct agility_filter_key {
  __u8 address[16];
};

/* One slot per CPU. */
struct agility_filter_counters {
  __u64 passed;
  __u64 dropped;
};

#endif
