#!/usr/bin/env python3
"""The UDP query filter under a flood: agilityd (1 worker) listens on
127.0.0.1 and 127.0.0.2; dnsperf floods 127.0.0.1 at a fixed offered rate while a
second dnsperf asks 127.0.0.2 at a modest fixed rate (the "victim": queries
to every other address of a pool). Run with the filter off
(server.udp_queries_per_address: 0) and on, and print what the victim saw,
the flood's answered rate, the server's CPU and the filter's counters.

usage: query_filter.py [--seconds S] [--victim-rate QPS] [--flood-rate QPS] [--limit QPS]
                       [--names N] [--server-cores C]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from bench_compare import dnsperf, write_queries  # noqa: E402


def start_agilityd(directory, zone, port, metrics_port, limit):
    config = os.path.join(directory, "agility.yaml")
    with open(config, "w") as f:
        f.write(f'server: {{listen: ["127.0.0.1:{port}", "127.0.0.2:{port}"], workers: 1, '
                f'control: "{directory}/control.sock", metrics: "127.0.0.1:{metrics_port}", '
                f'udp_queries_per_address: {limit}}}\n'
                f'sk_lookup: {{enabled: false}}\nzones: ["{zone}"]\n')
    log = open(os.path.join(directory, "agilityd.log"), "w")
    process = subprocess.Popen([servers.AGILITYD, "-c", config], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while not servers.ask(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("agilityd did not start: " + open(log.name).read()[-2000:])
        time.sleep(0.01)
    return process


def flood_dnsperf(port, queries, seconds, rate):
    """dnsperf as a flood: a fixed offered rate that does not slow down when
    queries go unanswered (up to 200 000 outstanding, 1 s timeout)."""
    out = subprocess.run(
        ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, "-l", str(seconds),
         "-c", "8", "-T", "1", "-q", "200000", "-t", "1", "-Q", str(rate)],
        capture_output=True, text=True).stdout
    return {"sent": int(re.search(r"Queries sent:\s+(\d+)", out).group(1)),
            "qps": float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))}


class CpuCap:
    """Caps a process at `cores` of CPU with a cgroup (v2, or v1's cpu
    controller): a server at the limit of its capacity, without needing a
    flood bigger than this machine can send."""

    def __init__(self, cores):
        self.cores, self.path = cores, None

    def apply(self, pid):
        if not self.cores:
            return
        period = 100000
        quota = int(self.cores * period)
        for root, v2 in (("/sys/fs/cgroup", True), ("/sys/fs/cgroup/unified", True),
                         ("/sys/fs/cgroup/cpu", False)):
            controllers = os.path.join(root, "cgroup.controllers")
            if v2 and not (os.path.exists(controllers) and "cpu" in open(controllers).read()):
                continue
            if not v2 and not os.path.exists(os.path.join(root, "cpu.cfs_quota_us")):
                continue
            self.path = os.path.join(root, f"agility-bench-{os.getpid()}")
            os.makedirs(self.path, exist_ok=True)
            if v2:
                with open(os.path.join(self.path, "cpu.max"), "w") as f:
                    f.write(f"{quota} {period}")
            else:
                with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
                    f.write(str(period))
                with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
                    f.write(str(quota))
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            return
        raise RuntimeError("no cgroup cpu controller to cap the server with; run without "
                           "--server-cores")

    def remove(self):
        if self.path:
            os.rmdir(self.path)
            self.path = None


def filter_counts(metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as r:
        text = r.read().decode()
    counts = {}
    for verdict in ("passed", "dropped"):
        m = re.search(r'agility_udp_query_filter_total\{verdict="%s"\} (\d+)' % verdict, text)
        counts[verdict] = int(m.group(1)) if m else 0
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--victim-rate", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=20000,
                        help="server.udp_queries_per_address when the filter is on")
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--flood-rate", type=int, default=150000,
                        help="queries per second offered to 127.0.0.1")
    parser.add_argument("--server-cores", type=float, default=0,
                        help="cap agilityd at this much CPU (a cgroup), e.g. 0.25")
    args = parser.parse_args()
    servers.ensure_ready()
    with tempfile.TemporaryDirectory(prefix="agility-filter-") as d:
        zone = f"{d}/example.com.zone"
        servers.write_zone(zone, args.names)
        queries = f"{d}/queries.txt"
        write_queries(queries, args.names)
        rows = []
        for limit in (0, args.limit):
            run = tempfile.mkdtemp(dir=d)
            port, metrics_port = servers.free_port(), servers.free_port()
            process = start_agilityd(run, zone, port, metrics_port, limit)
            cap = CpuCap(args.server_cores)
            try:
                cap.apply(process.pid)
                alone = dnsperf(port, queries, args.seconds, rate=args.victim_rate, verbose=True,
                                clients=4, server="127.0.0.2")
                flood = {}
                flooder = threading.Thread(target=lambda: flood.update(
                    flood_dnsperf(port, queries, args.seconds + 2, args.flood_rate)))
                cpu_before = servers.cpu_seconds(process.pid)
                flooder.start()
                time.sleep(1)
                victim = dnsperf(port, queries, args.seconds, rate=args.victim_rate,
                                 verbose=True, clients=4, server="127.0.0.2")
                flooder.join()
                cpu = servers.cpu_seconds(process.pid) - cpu_before
                counts = filter_counts(metrics_port)
            finally:
                process.terminate()
                process.wait()
                cap.remove()
            rows.append((limit, alone, victim, flood, cpu / (args.seconds + 2), counts))
        print(f"{time.strftime('%Y-%m-%d')}: {args.names} names, 1 worker, victim "
              f"{args.victim_rate} qps to 127.0.0.2 for {args.seconds} s, flood of "
              f"{args.flood_rate} qps offered to 127.0.0.1; all on this machine's two cores"
              + (f"; agilityd capped at {args.server_cores} cores" if args.server_cores else ""))
        print("| udp_queries_per_address | victim alone: lost, p99 ms | victim under flood: "
              "lost, avg ms, p99 ms | flood sent / answered qps | server CPU (cores) | "
              "filter passed / dropped |")
        print("|---|---|---|---|---|---|")
        for limit, alone, victim, flood, cpu, counts in rows:
            print(f"| {limit or 'off'} | {alone['lost']}, {alone.get('p99_ms', float('nan')):.2f} | "
                  f"{victim['lost']} of {victim['sent']}, {victim['avg_ms']:.2f}, "
                  f"{victim.get('p99_ms', float('nan')):.2f} | "
                  f"{flood.get('sent', 0) / (args.seconds + 2):.0f} / {flood.get('qps', 0):.0f} | "
                  f"{cpu:.2f} | {counts['passed']} / {counts['dropped']} |")


if __name__ == "__main__":
    main()
