#!/usr/bin/env python3
"""Zone scale: load time and peak RSS of agilityd, NSD and Knot DNS on the
same generated zone (perf/gen_zone.py N), and agilityd's query speed on it.

Load time is from process start until the server answers a query; peak RSS is
VmHWM (the largest among the server's processes), steady RSS is VmRSS a second
after the first answer.

usage: bench_load.py [--names N] [--plain] [--servers agilityd,nsd,knot] [--runs R]
                     [--qps-seconds S]
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
    parser.add_argument("--plain", action="store_true",
                        help="one A record per name instead of gen_zone.py's mixed zone")
    parser.add_argument("--runs", type=int, default=1, help="runs of each server, alternated")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    servers.ensure_ready()
    with tempfile.TemporaryDirectory(prefix="agility-load-") as d:
        zone = f"{d}/example.com.zone"
        started = time.monotonic()
        servers.write_zone(zone, args.names, plain=args.plain)
        size = os.path.getsize(zone)
        print(f"{time.strftime('%Y-%m-%d')}: {'plain' if args.plain else 'mixed'} zone of "
              f"{args.names} names, {size / 2**20:.0f} MiB, generated in "
              f"{time.monotonic() - started:.1f} s")
        print("| server | load time s | peak RSS MiB | steady RSS MiB | peak / steady "
              "| saturation qps |")
        print("|---|---|---|---|---|---|")
        for kind in args.servers.split(",") * args.runs:
            run = tempfile.mkdtemp(dir=d)
            server = servers.Server(kind, run, zone, 1)
            try:
                seconds = server.start(timeout=args.timeout)
                time.sleep(1)  # what is left once the load's scratch is gone
                rss = server.peak_rss_mib()
                steady = server.rss_mib()
                qps = ""
                if args.qps_seconds and kind == "agilityd":
                    queries = f"{d}/queries.txt"
                    write_queries(queries, args.names)
                    qps = f"{dnsperf(server.port, queries, args.qps_seconds)['qps']:.0f}"
            finally:
                server.stop()
            print(f"| {kind} | {seconds:.2f} | {rss:.0f} | {steady:.0f} | {rss / steady:.2f} | "
                  f"{qps} |", flush=True)


if __name__ == "__main__":
    main()
