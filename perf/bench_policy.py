#!/usr/bin/env python3
"""The cost of the random draw: agilityd answering the same A queries from the
zone's own records, from a /20 pool, and from a weighted pool of four prefixes
(policy *.example.com), at a fixed rate. The three run interleaved, one after
the other in every round (the order rotates from round to round). Reports
server CPU per answered query and saturation qps for each, and how much more
CPU a weighted draw costs than a single-prefix one (target: at most 2 %).

usage: bench_policy.py [--names N] [--rate QPS] [--seconds S] [--repeat R] [--pin]

--pin runs the server's threads on CPU 1 and dnsperf on CPU 0, so that the two
do not trade places on the two cores during a run.
"""
import argparse
import ipaddress
import os
import random
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from bench_compare import dnsperf  # noqa: E402

# (label, Server(policy=...)); servers.POOLS has the pools.
MODES = (("zone records", False),
         ("pool draws, one /20", "single"),
         ("pool draws, weighted (4 prefixes)", "weighted"))
TARGET_PERCENT = 2.0
CHECKED = 1000  # A queries whose answers are checked before each measurement

# The prefixes each mode's answers must come from, with the share of answers
# expected from each (servers.POOLS, weights 3, 1, 1, 0).
EXPECTED = {
    False: {"10.0.0.0/8": 1.0},
    "single": {"127.77.0.0/20": 1.0},
    "weighted": {"127.77.0.0/20": 0.6, "127.77.16.0/22": 0.2, "127.77.20.0/24": 0.2,
                 "127.77.21.0/26": 0.0},
}


def a_answer(port, name, sock):
    """The address of the first A record in the answer to `name` A."""
    query_id = random.randrange(65536)
    sock.sendto(servers.a_query(name, query_id), ("127.0.0.1", port))
    while True:
        reply_id, _, addresses = servers.answer_addresses(sock.recv(4096))
        if reply_id == query_id:
            break
    if not addresses:
        raise RuntimeError(f"no A record in the answer to {name}")
    return ipaddress.IPv4Address(addresses[0])


def check_answers(port, policy, names, count=CHECKED):
    """Asks `count` A queries and checks that the answers come from the mode's
    prefixes, in about the expected shares (so that the run measures the pool
    it claims to). Returns {prefix: share}."""
    expected = {ipaddress.ip_network(p): share for p, share in EXPECTED[policy].items()}
    seen = dict.fromkeys(expected, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        for i in range(count):
            address = a_answer(port, f"host{i % names}.example.com", sock)
            prefix = next((p for p in expected if address in p), None)
            if prefix is None:
                raise RuntimeError(f"policy={policy!r}: {address} outside {list(EXPECTED[policy])}")
            seen[prefix] += 1
    shares = {str(p): n / count for p, n in seen.items()}
    for p, share in EXPECTED[policy].items():
        # 1000 draws: the standard deviation of a 0.2 share is 0.013.
        if abs(shares[p] - share) > 0.06 or (share == 0) != (shares[p] == 0):
            raise RuntimeError(f"policy={policy!r}: {p} got {shares[p]:.3f} of answers, "
                               f"expected {share}")
    return shares


def pin_server(pid, cpu):
    """Moves every thread of pid and its descendants to `cpu`."""
    for p in servers.descendants(pid):
        for task in os.listdir(f"/proc/{p}/task"):
            os.sched_setaffinity(int(task), {cpu})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--rate", type=int, default=50000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pin", action="store_true",
                        help="server threads on CPU 1, this script and dnsperf on CPU 0")
    args = parser.parse_args()
    servers.ensure_ready()
    if args.pin:
        os.sched_setaffinity(0, {0})  # dnsperf, started from here, inherits it
    with tempfile.TemporaryDirectory(prefix="agility-policy-") as d:
        zone = f"{d}/example.com.zone"
        servers.write_zone(zone, args.names)
        queries = f"{d}/queries.txt"
        rng = random.Random(3)
        with open(queries, "w") as f:
            for _ in range(100000):
                f.write(f"host{rng.randrange(args.names)}.example.com A\n")
        results = {policy: [] for _, policy in MODES}
        qps = {policy: [] for _, policy in MODES}
        shares = {}
        for round_ in range(args.repeat):
            # Interleaved, so drift hits every mode; rotated, so no mode always
            # runs right after the same other one.
            order = [MODES[(round_ + i) % len(MODES)] for i in range(len(MODES))]
            for label, policy in order:
                server = servers.Server("agilityd", tempfile.mkdtemp(dir=d), zone, 1,
                                        policy=policy)
                try:
                    server.start()
                    if args.pin:
                        pin_server(server.process.pid, 1)
                    shares[policy] = check_answers(server.port, policy, args.names)
                    dnsperf(server.port, queries, 1)
                    qps[policy].append(dnsperf(server.port, queries, args.seconds)["qps"])
                    before = server.cpu()
                    fixed = dnsperf(server.port, queries, args.seconds, rate=args.rate)
                    results[policy].append((server.cpu() - before) / fixed["completed"] * 1e6)
                finally:
                    server.stop()
                print(f"round {round_ + 1}, {label}: {results[policy][-1]:.2f} us/query, "
                      f"{qps[policy][-1]:.0f} qps", file=sys.stderr, flush=True)
    print(f"{time.strftime('%Y-%m-%d')}, {args.names} names, A queries for existing names, "
          f"{args.rate} qps fixed rate, {args.repeat} interleaved runs, 1 worker"
          f"{', server on CPU 1 and dnsperf on CPU 0' if args.pin else ''}")
    print("| answers | CPU us/query (median) | CPU us/query (each run) | "
          "saturation qps (median) |")
    print("|---|---|---|---|")
    for label, policy in MODES:
        runs = " / ".join(f"{x:.2f}" for x in results[policy])
        print(f"| {label} | {statistics.median(results[policy]):.2f} | {runs} | "
              f"{statistics.median(qps[policy]):.0f} |")
    weighted_shares = ", ".join(f"{p} {s:.3f}" for p, s in shares["weighted"].items())
    print(f"weighted pool, shares of {CHECKED} checked answers: {weighted_shares}")
    zone_cpu, single, weighted = (statistics.median(results[p]) for _, p in MODES)
    print(f"pool /20 vs zone records: {single - zone_cpu:+.2f} us/query")
    percent = (weighted / single - 1) * 100
    # Each round's three runs are close in time: the ratio within a round
    # cancels drift that hits all of them.
    paired = [(w / s - 1) * 100 for w, s in zip(results["weighted"], results["single"])]
    print(f"weighted vs /20: {weighted - single:+.2f} us/query, {percent:+.1f} % "
          f"(target <= +{TARGET_PERCENT:g} %: {'met' if percent <= TARGET_PERCENT else 'MISSED'}); "
          f"per round: {' / '.join(f'{p:+.1f} %' for p in paired)}, "
          f"median {statistics.median(paired):+.1f} %")
    if len(paired) > 1:
        # The resolution of this run: when it is wider than the target, the
        # verdict above is noise either way; repeat, or pool several runs.
        error = statistics.stdev(paired) / len(paired) ** 0.5
        print(f"per-round differences: mean {statistics.mean(paired):+.1f} %, standard error "
              f"{error:.1f} %{' (wider than the target)' if error > TARGET_PERCENT else ''}")


if __name__ == "__main__":
    main()
