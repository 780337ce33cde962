#!/usr/bin/env python3
"""Online signing speed (issue 10 §5): agilityd beside Knot DNS's
mod-onlinesign, one worker each, ECDSA P-256 keys from ldns-keygen (a KSK and
a ZSK, the same files for both servers), dnsperf on the same machine.

Workloads, each a dnsperf query file:
- misses: DO=1 A queries for 100 000 names whose policy draws from a /24:
  25.6 M (name, address) RRsets, so nearly every answer is signed afresh;
- negative: DO=1 A queries for names that do not exist, each once: one
  compact-denial NSEC signed per answer (the SOA's signature is cached);
- hits: 1 000 names on a /32 pool: after a warm-up every signature is cached;
  compared with the same queries without DO, as CPU per query at a fixed rate;
- Knot: the misses and negative files, signed by mod-onlinesign (no cache).

Then, with --memory-seconds, agilityd signs misses for that long with a small
cache (--memory-cache-mb) and its RSS is sampled: it must stay within the
bound.

usage: bench_signing.py [--names N] [--seconds S] [--rate QPS] [--rounds N]
                        [--memory-seconds S] [--memory-cache-mb MB] [--skip-knot]
"""
import argparse
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
AGILITYD = os.environ.get("AGILITYD", os.path.join(ROOT, "build", "agilityd"))
AGILITYCTL = os.environ.get("AGILITYCTL", os.path.join(ROOT, "build", "agilityctl"))


def write_zone(path, names):
    with open(path, "w") as f:
        f.write("$ORIGIN example.com.\n$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n"
                "@ NS ns\nns A 192.0.2.1\n")
        for i in range(names):
            f.write(f"host{i} A 192.0.2.{i % 250 + 1}\n")


def write_queries(path, template, count, span, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for n in range(count):
            f.write(template.format(i=rng.randrange(span) if span else n) + "\n")


class Agilityd:
    def __init__(self, directory, zone, keys, pool, cache_mb):
        self.dir, self.port = directory, servers.free_port()
        self.config = os.path.join(directory, "agility.yaml")
        with open(self.config, "w") as f:
            f.write(f'server: {{listen: ["127.0.0.1:{self.port}"], workers: 1, '
                    f'control: "{directory}/control.sock", state_dir: "{directory}/state", '
                    f'dnssec_cache_mb: {cache_mb}}}\n'
                    f'sk_lookup: {{enabled: false}}\nzones: ["{zone}"]\n'
                    f'pools: {{web: {pool}}}\n'
                    'policies: [{name: web, match: ["*.example.com"], ipv4: web, ttl: 60}]\n'
                    f'dnssec:\n  example.com: {{keys: "{keys}"}}\n')
        self.log = open(os.path.join(directory, "agilityd.log"), "w")
        self.process = subprocess.Popen([AGILITYD, "-c", self.config], stdout=self.log,
                                        stderr=self.log)
        wait_until_answering(self.port, self.process)

    def signing(self):
        status = subprocess.run([AGILITYCTL, "-c", self.config, "status"], capture_output=True,
                                text=True, timeout=30).stdout
        m = re.search(r"online signatures made (\d+), cache hits (\d+) misses (\d+) "
                      r"evictions (\d+)", status)
        return dict(zip(("made", "hits", "misses", "evictions"), map(int, m.groups())))

    def rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) / 1024

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


class Knot:
    def __init__(self, directory, zone, keys):
        self.dir, self.port = directory, servers.free_port()
        conf = os.path.join(directory, "knot.conf")
        servers.write_knot_conf(
            conf, directory, self.port, [("example.com", zone)],
            sections=("policy:\n  - id: bench\n    manual: on\n"
                      "    algorithm: ecdsap256sha256\n"
                      "mod-onlinesign:\n  - id: online\n    policy: bench\n"),
            zone_settings="    module: mod-onlinesign/online\n")
        for name in sorted(os.listdir(keys)):
            if name.endswith(".private"):
                subprocess.run(["keymgr", "-c", conf, "example.com.", "import-bind",
                                os.path.join(keys, name)], check=True, capture_output=True)
        self.log = open(os.path.join(directory, "knotd.log"), "w")
        self.process = subprocess.Popen(["knotd", "-c", conf], stdout=self.log, stderr=self.log)
        wait_until_answering(self.port, self.process)
        # mod-onlinesign fails to load quietly (knotd logs it and serves
        # unsigned): make sure answers carry signatures.
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "+dnssec", "+norec",
                              "host1.example.com", "A"], capture_output=True, text=True).stdout
        if "RRSIG" not in out:
            raise RuntimeError("knotd does not sign: " + open(self.log.name).read()[-2000:])

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


def wait_until_answering(port, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not servers.ask(port, "ns.example.com"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.01)


def run(server, queries, seconds, rate=None, dnssec=True):
    """dnsperf against `server`: answers per second, CPU µs per answer."""
    extra = ["-D"] if dnssec else []
    cpu_before = servers.cpu_seconds(server.process.pid)
    result = dnsperf_with(server.port, queries, seconds, rate, extra)
    cpu = servers.cpu_seconds(server.process.pid) - cpu_before
    result["cpu_us"] = cpu / max(result["completed"], 1) * 1e6
    return result


def dnsperf_with(port, queries, seconds, rate, extra):
    command = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, "-l",
               str(seconds), "-c", "8", "-T", "1", "-q", "1000", "-t", "2", *extra]
    if rate:
        command += ["-Q", str(rate)]
    out = subprocess.run(command, capture_output=True, text=True).stdout
    return {
        "completed": int(re.search(r"Queries completed:\s+(\d+)", out).group(1)),
        "lost": int(re.search(r"Queries lost:\s+(\d+)", out).group(1)),
        "qps": float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1)),
        "avg_ms": float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1e3,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=20000,
                        help="fixed rate for the CPU-per-query comparisons")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternated runs of the cache-hit comparison")
    parser.add_argument("--memory-seconds", type=int, default=0)
    parser.add_argument("--memory-cache-mb", type=int, default=16)
    parser.add_argument("--skip-knot", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agility-signing-") as d:
        keys = os.path.join(d, "keys")
        os.makedirs(keys)
        for ksk in (True, False):
            subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", *(["-k"] if ksk else []),
                            "example.com"], cwd=keys, check=True, capture_output=True)
        for name in os.listdir(keys):
            if name.endswith(".ds"):
                os.unlink(os.path.join(keys, name))
        zone = os.path.join(d, "example.com.zone")
        write_zone(zone, args.names)
        misses = os.path.join(d, "misses.txt")
        negative = os.path.join(d, "negative.txt")
        hits = os.path.join(d, "hits.txt")
        write_queries(misses, "host{i}.example.com A", 1000000, args.names, 1)
        write_queries(negative, "nothere{i}.example.com A", 2000000, 0, 2)
        write_queries(hits, "host{i}.example.com A", 100000, 1000, 3)
        rows = []

        def report(label, r):
            rows.append((label, r))
            print(f"{label:52s} {r['qps']:9.0f} answers/s  cpu {r['cpu_us']:6.2f} us/answer  "
                  f"lost {r['lost']}  avg {r['avg_ms']:.3f} ms", flush=True)

        os.makedirs(os.path.join(d, "a"))
        a = Agilityd(os.path.join(d, "a"), zone, keys, "127.77.0.0/24", 256)
        try:
            before = a.signing()
            r = run(a, misses, args.seconds)
            after = a.signing()
            made = after["made"] - before["made"]
            report("agilityd signed pool answers, cache misses", r)
            print(f"  {made} signatures made for {r['completed']} answers "
                  f"({made / max(r['completed'], 1):.2f} per answer)")
            report("agilityd negative (compact denial), cache misses",
                   run(a, negative, args.seconds))
            report("agilityd unsigned pool answers (no DO), saturation",
                   run(a, misses, args.seconds, dnssec=False))
        finally:
            a.stop()
        os.makedirs(os.path.join(d, "b"))
        b = Agilityd(os.path.join(d, "b"), zone, keys, "127.77.0.1/32", 256)
        try:
            run(b, hits, 3)  # warm: every signature cached
            # CPU per query at a fixed rate varies by a tenth from run to run
            # here: alternate the two, and compare medians.
            unsigned_us, signed_us = [], []
            for _ in range(args.rounds):
                unsigned = run(b, hits, args.seconds, rate=args.rate, dnssec=False)
                report(f"agilityd unsigned, /32 pool, {args.rate} qps", unsigned)
                signed = run(b, hits, args.seconds, rate=args.rate)
                report(f"agilityd signed, cache hits, {args.rate} qps", signed)
                unsigned_us.append(unsigned["cpu_us"])
                signed_us.append(signed["cpu_us"])
            median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
            print(f"  cache hits: median {median(signed_us):.2f} us against "
                  f"{median(unsigned_us):.2f} unsigned: "
                  f"{median(unsigned_us) / median(signed_us):.2f} x the unsigned throughput per "
                  "CPU (target >= 0.9)")
            state = b.signing()
            print(f"  cache: {state['hits']} hits, {state['misses']} misses")
            report("agilityd signed, cache hits, saturation", run(b, hits, args.seconds))
            report("agilityd unsigned, /32 pool, saturation",
                   run(b, hits, args.seconds, dnssec=False))
        finally:
            b.stop()
        if not args.skip_knot:
            os.makedirs(os.path.join(d, "k"))
            k = Knot(os.path.join(d, "k"), zone, keys)
            try:
                report("knotd mod-onlinesign, same misses file", run(k, misses, args.seconds))
                report("knotd mod-onlinesign, negative", run(k, negative, args.seconds))
                report("knotd unsigned (no DO)", run(k, misses, args.seconds, dnssec=False))
            finally:
                k.stop()
        if args.memory_seconds:
            os.makedirs(os.path.join(d, "m"))
            m = Agilityd(os.path.join(d, "m"), zone, keys, "127.77.0.0/24", args.memory_cache_mb)
            try:
                start_rss = m.rss_mib()
                samples = []
                end = time.monotonic() + args.memory_seconds
                while time.monotonic() < end:
                    chunk = min(30, max(1, int(end - time.monotonic())))
                    dnsperf_with(m.port, misses, chunk, None, ["-D"])
                    samples.append(m.rss_mib())
                state = m.signing()
                print(f"memory: cache {args.memory_cache_mb} MiB; RSS {start_rss:.1f} MiB at "
                      f"start, {max(samples):.1f} MiB at most over {args.memory_seconds} s "
                      f"(growth {max(samples) - start_rss:.1f} MiB); "
                      f"{state['made']} signatures made, {state['evictions']} evicted")
            finally:
                m.stop()


if __name__ == "__main__":
    main()
