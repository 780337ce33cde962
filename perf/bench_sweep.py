#!/usr/bin/env python3
"""CPU per query and latency against offered load, from 1 000 qps to
saturation: agilityd (adaptive batching, and fixed waits for comparison; io_uring
and recvmmsg), NSD
and Knot DNS on the same zone and query file as bench_compare.py, 1 worker
each, dnsperf on the same two cores. `--servers` may add the floors of
perf/udp_echo.cc: "echo" (recvmmsg/sendmmsg) and "echo-uring" (io_uring),
which answer no DNS at all.

Each server is started once; the rates are then offered in turn, lowest
first, each for --seconds after a one-second warm-up. The last step offers
no limit (saturation). The CPU figure is the user+system time of all the
server's processes over the step, per answered query; latencies are dnsperf's
per-query ones (-v).

usage: bench_sweep.py [--rates 1000,5000,...] [--seconds S] [--names N]
                      [--agilityd-waits auto,0,200] [--agilityd-io io_uring,recvmmsg]
                      [--servers nsd,knot[,echo,echo-uring]]
                      [--no-latencies] [--chart FILE.png]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_compare  # noqa: E402
import servers  # noqa: E402


def sweep(label, kind, extra_server, zone, queries, rates, seconds, directory, latencies=True):
    server = servers.Server(kind, directory, zone, 1, extra_server=extra_server)
    rows = []
    try:
        server.start()
        bench_compare.dnsperf(server.port, queries, 1)
        for rate in rates:
            cpu_before = server.cpu()
            result = bench_compare.dnsperf(server.port, queries, seconds, rate=rate or None,
                                           verbose=latencies)
            cpu = server.cpu() - cpu_before
            rows.append({
                "server": label, "offered": rate, "qps": result["qps"],
                "lost": result["lost"], "avg_ms": result["avg_ms"],
                "p99_ms": result.get("p99_ms", float("nan")),
                "cpu_us": cpu / max(result["completed"], 1) * 1e6,
            })
            r = rows[-1]
            print(f"  {label} @ {rate or 'max'}: {r['qps']:.0f} qps, {r['cpu_us']:.2f} us/query, "
                  f"avg {r['avg_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms", file=sys.stderr)
    finally:
        server.stop()
    return rows


def chart(rows, path):
    labels = list(dict.fromkeys(r["server"] for r in rows))
    data = path + ".dat"
    with open(data, "w") as f:
        for label in labels:
            f.write(f'"{label}"\n')
            for r in rows:
                if r["server"] == label:
                    f.write(f'{r["qps"]:.0f} {r["cpu_us"]:.3f} {r["avg_ms"]:.4f} '
                            f'{r["p99_ms"]:.4f}\n')
            f.write("\n\n")
    plots = lambda column: ", ".join(  # noqa: E731
        f'"{data}" index {i} using 1:{column} with linespoints title "{label}"'
        for i, label in enumerate(labels))
    script = f"""
set terminal png size 1400,460 noenhanced
set output "{path}"
set multiplot layout 1,3 title "1 worker, 100 000-name zone, dnsperf on the same 2 cores"
set logscale x
set grid
set key top right
set xlabel "answered queries per second"
set title "server CPU microseconds per query"
set yrange [0:*]
plot {plots(2)}
set title "average latency (ms)"
set logscale y
set yrange [*:*]
plot {plots(3)}
set title "99th percentile latency (ms)"
plot {plots(4)}
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,5000,10000,25000,50000,75000,100000,0",
                        help="offered qps, in order; 0 means no limit (saturation)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--agilityd-waits", default="auto,0,200",
                        help="udp_batch_wait_us settings to sweep agilityd with")
    parser.add_argument("--agilityd-io", default="auto",
                        help="server.udp_io settings to sweep agilityd with, e.g. "
                             "io_uring,recvmmsg")
    parser.add_argument("--servers", default="nsd,knot")
    parser.add_argument("--no-latencies", action="store_true",
                        help="dnsperf without -v: its average only, no p99, and none of the "
                             "cost of printing every answer, which changes how it waits")
    parser.add_argument("--chart", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    servers.ensure_ready()
    rates = [int(r) for r in args.rates.split(",")]

    ios = [io for io in args.agilityd_io.split(",") if io]
    runs = [(f"agilityd{' ' + io if len(ios) > 1 else ''} wait {w}", "agilityd",
             f"udp_batch_wait_us: {w}, udp_io: {io}")
            for io in ios for w in args.agilityd_waits.split(",") if w]
    runs += [(kind, kind, "") for kind in args.servers.split(",") if kind]
    rows = []
    with tempfile.TemporaryDirectory(prefix="agility-sweep-") as d:
        zone = f"{d}/example.com.zone"
        servers.write_zone(zone, args.names)
        queries = f"{d}/queries.txt"
        bench_compare.write_queries(queries, args.names)
        for label, kind, extra in runs:
            rows += sweep(label, kind, extra, zone, queries, rates, args.seconds,
                          tempfile.mkdtemp(dir=d), latencies=not args.no_latencies)

    print(f"{time.strftime('%Y-%m-%d')}, {args.names} names, 1 worker, {args.seconds} s per "
          f"step, dnsperf -c 8 -T 1 on the same machine")
    print("| server | offered qps | answered qps | lost | CPU µs/query | avg ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['server']} | {r['offered'] or 'max'} | {r['qps']:.0f} | {r['lost']} | "
              f"{r['cpu_us']:.2f} | {r['avg_ms']:.3f} | {r['p99_ms']:.3f} |")
    if args.chart:
        chart(rows, args.chart)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
