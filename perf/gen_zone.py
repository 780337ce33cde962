#!/usr/bin/env python3
"""Writes a zone of N names for scale tests: one A record per name (host<i>),
plus the apex SOA/NS/MX, some AAAA, TXT, CNAME and MX records, and a
delegation with glue.

usage: gen_zone.py N [ORIGIN] > ORIGIN.zone      (ORIGIN default: example.com)
"""
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    count = int(sys.argv[1])
    origin = sys.argv[2] if len(sys.argv) > 2 else "example.com"
    out = sys.stdout
    out.write(f"$ORIGIN {origin}.\n$TTL 3600\n"
              "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
              "@ NS ns1\n@ NS ns2\n@ MX 10 mail\n"
              "ns1 A 192.0.2.1\nns2 A 192.0.2.2\nmail A 192.0.2.25\n"
              "sub NS ns.sub\nns.sub A 192.0.2.53\n")
    lines = []
    for i in range(count):
        lines.append(f"host{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
        if i % 10 == 0:
            lines.append(f"host{i} AAAA 2001:db8::{i & 0xffff:x}\n")
        if i % 50 == 0:
            lines.append(f'host{i} TXT "record {i}"\n')
        if i % 100 == 0:
            lines.append(f"alias{i} CNAME host{i}\n")
        if len(lines) >= 65536:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))


if __name__ == "__main__":
    main()
