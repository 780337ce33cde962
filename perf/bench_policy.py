#!/usr/bin/env python3
"""The cost of the random draw: agilityd answering the same A queries from the
zone's own records, then from a /20 pool (policy *.example.com), at a fixed
rate. Reports server CPU per answered query for both, and saturation qps.

usage: bench_policy.py [--names N] [--rate QPS] [--seconds S] [--repeat R]
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from bench_compare import dnsperf  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--rate", type=int, default=50000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    servers.ensure_ready()
    with tempfile.TemporaryDirectory(prefix="agility-policy-") as d:
        zone = f"{d}/example.com.zone"
        servers.write_zone(zone, args.names)
        queries = f"{d}/queries.txt"
        rng = random.Random(3)
        with open(queries, "w") as f:
            for _ in range(100000):
                f.write(f"host{rng.randrange(args.names)}.example.com A\n")
        results = {False: [], True: []}
        qps = {False: [], True: []}
        for _ in range(args.repeat):
            for policy in (False, True):  # interleaved, so drift hits both
                server = servers.Server("agilityd", tempfile.mkdtemp(dir=d), zone, 1,
                                        policy=policy)
                try:
                    server.start()
                    dnsperf(server.port, queries, 1)
                    qps[policy].append(dnsperf(server.port, queries, args.seconds)["qps"])
                    before = server.cpu()
                    fixed = dnsperf(server.port, queries, args.seconds, rate=args.rate)
                    results[policy].append((server.cpu() - before) / fixed["completed"] * 1e6)
                finally:
                    server.stop()
    print(f"{time.strftime('%Y-%m-%d')}, {args.names} names, A queries for existing names, "
          f"{args.rate} qps fixed rate, {args.repeat} interleaved runs, 1 worker")
    print("| answers | CPU us/query (median) | saturation qps (median) |")
    print("|---|---|---|")
    for policy, label in ((False, "zone records"), (True, "pool draws (/20)")):
        print(f"| {label} | {statistics.median(results[policy]):.2f} | "
              f"{statistics.median(qps[policy]):.0f} |")
    print(f"difference: {statistics.median(results[True]) - statistics.median(results[False]):+.2f}"
          " us/query")


if __name__ == "__main__":
    main()
