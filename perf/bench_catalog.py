#!/usr/bin/env python3
"""Catalog zones at scale (issue 12): an agilityd secondary of a catalog of
N member zones of 10 names each, from an agilityd primary holding them (a
directory of zone files and the catalog). Reports the time from the
secondary's start to every member served (all transferred, and the last
member answering), and the secondary's RSS then.

usage: bench_catalog.py [--zones N]
Everything listens on 127.0.0.1 and stops by itself.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servers  # noqa: E402
from bench_transfer import AGILITYCTL, agilityd, answers, stop, wait  # noqa: E402

CATALOG = "catalog.invalid"


def transfers(config):
    out = subprocess.run([AGILITYCTL, "-c", config, "stats"], capture_output=True,
                         text=True).stdout
    found = re.search(r'^agility_transfers_in_total\{kind="axfr"\} (\S+)$', out, re.M)
    return int(float(found.group(1))) if found else 0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zones", type=int, default=10000)
    args = parser.parse_args()
    servers.ensure_ready()
    with tempfile.TemporaryDirectory(prefix="agility-catalog-") as d:
        zones = os.path.join(d, "zones")
        os.makedirs(zones)
        catalog = [f"$ORIGIN {CATALOG}.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 864000 0\n"
                   '@ NS invalid.\nversion TXT "2"\n']
        for i in range(args.zones):
            name = f"member{i}.test"
            with open(os.path.join(zones, f"{name}.zone"), "w") as f:
                f.write(f"$ORIGIN {name}.\n$TTL 300\n@ SOA ns1 h 1 3600 600 864000 300\n"
                        "@ NS ns1\nns1 A 192.0.2.1\n" +
                        "".join(f"h{k} A 10.{i % 250}.{k}.1\n" for k in range(8)))
            catalog.append(f"m{i}.zones PTR {name}.\n")
        with open(os.path.join(zones, f"{CATALOG}.zone"), "w") as f:
            f.write("".join(catalog))
        primary_port, port = servers.free_port(), servers.free_port()
        primary, _ = agilityd(d, "primary", primary_port,
                              f'zones: ["{zones}"]\n'
                              "transfer: {allow: [{prefix: 127.0.0.0/8}]}\n")
        processes = [primary]
        try:
            last = f"h7.member{args.zones - 1}.test"
            if not wait(lambda: answers(primary_port, last, f"10.{(args.zones - 1) % 250}.7.1"),
                        600):
                raise RuntimeError("the primary does not answer")
            started = time.monotonic()
            secondary, config = agilityd(
                d, "secondary", port,
                f'remotes: {{p: {{address: "127.0.0.1:{primary_port}"}}}}\n'
                f"catalogs: [{{name: {CATALOG}, primaries: [p]}}]\n")
            processes.append(secondary)
            if not wait(lambda: os.path.exists(os.path.join(d, "secondary", "control.sock")), 60):
                raise RuntimeError("the secondary does not start")
            if not wait(lambda: transfers(config) >= args.zones + 1, 1800):
                raise RuntimeError(f"only {transfers(config)} transfers")
            transferred = time.monotonic() - started
            if not wait(lambda: answers(port, last, f"10.{(args.zones - 1) % 250}.7.1"), 600):
                raise RuntimeError("the last member is not served")
            served = time.monotonic() - started
            print(f"catalog of {args.zones} member zones (10 names each), agilityd primary and "
                  f"secondary: every member transferred after {transferred:.1f} s, the last "
                  f"served after {served:.1f} s; secondary RSS {rss_mib(secondary.pid):.0f} MiB "
                  f"(peak {servers.peak_rss_mib(secondary.pid):.0f} MiB)")
        finally:
            stop(*processes)


if __name__ == "__main__":
    main()
