#!/usr/bin/env python3
"""Side by side: agilityd, NSD, Knot DNS and a bare recvmmsg/sendmmsg echo on
the same zone and the same dnsperf query file (90 % existing names, 5 %
NXDOMAIN, 5 % AAAA), on loopback, in one run.

For each server and worker count: queries per second at saturation, lost
queries, average and 99th-percentile latency at a fixed offered rate, and the
server's CPU time per answered query at that rate (from /proc, all of the
server's processes). dnsperf shares the machine with the server.

usage: bench_compare.py [--names N] [--workers 1,2] [--rate QPS] [--seconds S]
                        [--servers agilityd,nsd,knot,echo] [--policy] [--chart FILE.png]
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

ROOT = servers.ROOT


def write_queries(path, names, seed=1):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(100000):
            roll = rng.random()
            i = rng.randrange(names)
            if roll < 0.90:
                f.write(f"host{i}.example.com A\n")
            elif roll < 0.95:
                f.write(f"nothere{i}.example.com A\n")
            else:
                f.write(f"host{i}.example.com AAAA\n")


def dnsperf(port, queries, seconds, rate=None, verbose=False, clients=8, server="127.0.0.1"):
    command = ["dnsperf", "-s", server, "-p", str(port), "-d", queries, "-l", str(seconds),
               "-c", str(clients), "-T", "1", "-q", "1000", "-t", "2"]
    if rate:
        command += ["-Q", str(rate)]
    if verbose:
        command += ["-v"]
    done = subprocess.run(command, capture_output=True, text=True)
    out = done.stdout
    result = {
        "sent": int(re.search(r"Queries sent:\s+(\d+)", out).group(1)),
        "completed": int(re.search(r"Queries completed:\s+(\d+)", out).group(1)),
        "lost": int(re.search(r"Queries lost:\s+(\d+)", out).group(1)),
        "qps": float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1)),
        "avg_ms": float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1e3,
    }
    if verbose:
        # "> NOERROR name A 0.000123"; lost queries end in "T" (timeout).
        latencies = sorted(float(fields[-1]) for fields in
                           (line.split() for line in out.splitlines() if line.startswith("> "))
                           if re.fullmatch(r"[\d.]+", fields[-1]))
        if latencies:
            result["p99_ms"] = latencies[int(len(latencies) * 0.99) - 1] * 1e3
            result["avg_ms"] = sum(latencies) / len(latencies) * 1e3
    return result


def measure(kind, workers, zone, queries, args, directory):
    server = servers.Server(kind, directory, zone, workers, policy=args.policy,
                            extra_server=args.agilityd_server)
    try:
        server.start()
        # Warm up, then saturation, then a fixed rate with per-query latencies.
        dnsperf(server.port, queries, 1)
        saturation = dnsperf(server.port, queries, args.seconds)
        cpu_before = server.cpu()
        fixed = dnsperf(server.port, queries, args.seconds, rate=args.rate, verbose=True)
        cpu = server.cpu() - cpu_before
    finally:
        server.stop()
    return {
        "server": kind, "workers": workers,
        "qps": saturation["qps"], "lost_saturation": saturation["lost"],
        "rate": args.rate, "lost": fixed["lost"],
        "avg_ms": fixed["avg_ms"], "p99_ms": fixed.get("p99_ms", float("nan")),
        "cpu_us": cpu / max(fixed["completed"], 1) * 1e6,
        "fixed_qps": fixed["qps"],
    }


def chart(rows, path):
    data = path + ".dat"
    with open(data, "w") as f:
        for r in rows:
            f.write(f'"{r["server"]} x{r["workers"]}" {r["qps"]:.0f} {r["cpu_us"]:.2f}\n')
    script = f"""
set terminal png size 900,500
set output "{path}"
set multiplot layout 1,2 title "agilityd vs NSD vs Knot DNS (loopback, dnsperf on the same 2 cores)"
set style data histograms
set style fill solid 0.8
set xtics rotate by -30
set grid ytics
set yrange [0:*]
set title "queries per second at saturation"
plot "{data}" using 2:xtic(1) notitle lc rgb "#3070b0"
set title "server CPU microseconds per answered query"
plot "{data}" using 3:xtic(1) notitle lc rgb "#b05030"
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--rate", type=int, default=50000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--servers", default="agilityd,nsd,knot,echo")
    parser.add_argument("--policy", action="store_true",
                        help="agilityd answers *.example.com from a /20 pool")
    parser.add_argument("--agilityd-server", default="",
                        help='extra agilityd server settings, e.g. "udp_batch_wait_us: 0"')
    parser.add_argument("--chart", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    servers.ensure_ready()

    rows = []
    with tempfile.TemporaryDirectory(prefix="agility-bench-") as d:
        zone = f"{d}/example.com.zone"
        servers.write_zone(zone, args.names)
        queries = f"{d}/queries.txt"
        write_queries(queries, args.names)
        for workers in [int(w) for w in args.workers.split(",")]:
            for kind in args.servers.split(","):
                if kind == "echo" and workers != 1:
                    continue
                run_dir = tempfile.mkdtemp(dir=d)
                rows.append(measure(kind, workers, zone, queries, args, run_dir))
                r = rows[-1]
                print(f"  {kind} x{workers}: {r['qps']:.0f} qps, {r['cpu_us']:.2f} us/query",
                      file=sys.stderr)
    print(f"{time.strftime('%Y-%m-%d')}, {args.names} names, fixed rate {args.rate} qps, "
          f"{args.seconds} s per run, dnsperf -c 8 -T 1 on the same machine")
    print("| server | workers | saturation qps | lost (sat.) | lost (fixed) | avg ms | p99 ms "
          "| CPU us/query |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['server']} | {r['workers']} | {r['qps']:.0f} | {r['lost_saturation']} | "
              f"{r['lost']} | {r['avg_ms']:.3f} | {r['p99_ms']:.3f} | {r['cpu_us']:.2f} |")
    if args.chart:
        chart(rows, args.chart)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
