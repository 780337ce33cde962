#!/usr/bin/env python3
"""Zone scale: load time and peak RSS of agilityd, NSD and Knot DNS on the
same generated zone (perf/gen_zone.py N), and agilityd's query speed on it.

Load time is from process start until the server answers a query; peak RSS is
VmHWM (the largest among the server's processes).

usage: bench_load.py [--names N] [--servers agilityd,nsd,knot] [--qps-seconds S]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from bench_compare import dnsperf, write_queries  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1000000)
    parser.add_argument("--servers", default="agilityd,nsd,knot")
    parser.add_argument("--qps-seconds", type=int, default=0,
                        help="also measure agilityd's saturation qps on the zone")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    servers.ensure_ready()
    with tempfile.TemporaryDirectory(prefix="agility-load-") as d:
        zone = f"{d}/example.com.zone"
        started = time.monotonic()
        servers.write_zone(zone, args.names)
        size = os.path.getsize(zone)
        print(f"{time.strftime('%Y-%m-%d')}: zone of {args.names} names, {size / 2**20:.0f} MiB, "
              f"generated in {time.monotonic() - started:.1f} s")
        print("| server | load time s | peak RSS MiB | saturation qps |")
        print("|---|---|---|---|")
        for kind in args.servers.split(","):
            run = tempfile.mkdtemp(dir=d)
            server = servers.Server(kind, run, zone, 1)
            try:
                seconds = server.start(timeout=args.timeout)
                rss = server.peak_rss_mib()
                qps = ""
                if args.qps_seconds and kind == "agilityd":
                    queries = f"{d}/queries.txt"
                    write_queries(queries, args.names)
                    qps = f"{dnsperf(server.port, queries, args.qps_seconds)['qps']:.0f}"
            finally:
                server.stop()
            print(f"| {kind} | {seconds:.2f} | {rss:.0f} | {qps} |", flush=True)


if __name__ == "__main__":
    main()
