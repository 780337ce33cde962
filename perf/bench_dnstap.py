#!/usr/bin/env python3
"""What dnstap costs: agilityd's CPU time per answered query at a fixed
offered rate (dnsperf, 50 000 qps by default, one worker), with dnstap off,
logging every query and response to fstrm_capture on a Unix socket, and to a
file. Rounds alternate between the settings so that drift in the machine
falls on all alike; the median of the rounds is reported.

With --baseline BINARY (an agilityd built before dnstap existed), that
binary runs as a fourth setting, to show what dnstap costs when off.

usage: bench_dnstap.py [--rate QPS] [--seconds S] [--rounds N] [--names N]
                       [--settings off,socket,file] [--baseline BINARY]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from bench_compare import dnsperf, write_queries  # noqa: E402


def run_once(setting, directory, zone, queries, args):
    socket_path = os.path.join(directory, "dnstap.sock")
    output = os.path.join(directory, "out.fstrm")
    for path in (socket_path, output):
        if os.path.exists(path):
            os.unlink(path)
    capture = None
    extra = ""
    if setting == "socket":
        capture = subprocess.Popen(["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u",
                                    socket_path, "-w", output],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(socket_path):
            time.sleep(0.01)
        extra = f'dnstap: {{socket: "{socket_path}"}}\n'
    elif setting == "file":
        extra = f'dnstap: {{file: "{output}"}}\n'
    server = servers.Server("agilityd", directory, zone, 1, policy=True, extra_config=extra)
    saved = servers.AGILITYD
    if setting == "baseline":
        servers.AGILITYD = args.baseline
    try:
        server.start()
        time.sleep(1.5)  # the writer thread connects within its 1 s reopen interval
        dnsperf(server.port, queries, 1)  # warm up
        before = server.cpu()
        result = dnsperf(server.port, queries, args.seconds, rate=args.rate)
        cpu = server.cpu() - before
        result["cpu_us"] = cpu / max(result["completed"], 1) * 1e6
        return result
    finally:
        servers.AGILITYD = saved
        server.stop()
        if capture is not None:
            capture.terminate()
            capture.wait(timeout=20)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=50000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--baseline", help="an agilityd binary without dnstap")
    parser.add_argument("--settings", default="off,socket,file",
                        help="which of off, socket, file to run (baseline comes with --baseline)")
    args = parser.parse_args()
    servers.ensure_ready()
    settings = args.settings.split(",") + (["baseline"] if args.baseline else [])
    with tempfile.TemporaryDirectory(prefix="bench-dnstap-", dir="/dev/shm") as directory:
        zone = os.path.join(directory, "example.com.zone")
        servers.write_zone(zone, args.names)
        queries = os.path.join(directory, "queries.txt")
        write_queries(queries, args.names)
        results = {s: [] for s in settings}
        for round_index in range(args.rounds):
            for setting in settings:
                r = run_once(setting, directory, zone, queries, args)
                results[setting].append(r)
                print(f"round {round_index + 1} {setting}: {r['cpu_us']:.2f} us/query, "
                      f"{r['completed']} answered, {r['lost']} lost, avg {r['avg_ms']:.3f} ms",
                      file=sys.stderr)
    off = statistics.median(r["cpu_us"] for r in results[settings[0]])
    print(f"| dnstap ({args.rate} qps offered, {args.seconds} s, 1 worker, median of "
          f"{args.rounds}) | CPU per query | vs off | lost | avg latency |")
    print("|---|---|---|---|---|")
    for setting in settings:
        cpu = statistics.median(r["cpu_us"] for r in results[setting])
        lost = max(r["lost"] for r in results[setting])
        latency = statistics.median(r["avg_ms"] for r in results[setting])
        label = {"off": "off", "socket": "every message, to fstrm_capture (Unix socket)",
                 "file": "every message, to a file (tmpfs)",
                 "baseline": "agilityd without dnstap (--baseline)"}[setting]
        print(f"| {label} | {cpu:.2f} us | {cpu / off:.2f} x | {lost} | {latency:.3f} ms |")


if __name__ == "__main__":
    main()
