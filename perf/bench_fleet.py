#!/usr/bin/env python3
"""A pool change reaching a fleet (issue 12): an agilityd primary publishes
its policy zone; two agilityd secondaries take their pools and policies from
it (`policy_from:`), directly or, with --relay, through Knot DNS. Each of
--changes changes moves the pool to another /24 (a YAML edit and
`agilityctl reload` on the primary); the time measured runs from the reload
command to the last secondary answering from the new pool. Reports p50, p99
and the worst, and the reload alone.

With AGILITY_BPFFS set (tests/integration/netns_run.sh), every node steers
its pools with sk_lookup, so that drains are part of each change.

usage: bench_fleet.py [--changes N] [--relay]
Everything listens on 127.0.0.1 and stops by itself.
"""
import argparse
import ipaddress
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servers  # noqa: E402
from bench_transfer import AGILITYCTL, AGILITYD, percentile, stop, wait  # noqa: E402

APEX = "fleet.example"
POLICY_ZONE = "policy.fleet.example"
BPFFS = os.environ.get("AGILITY_BPFFS", "")


def pool(i):
    return ipaddress.ip_network(f"127.92.{i % 250}.0/24")


def write_node(d, name, port, body):
    os.makedirs(os.path.join(d, name), exist_ok=True)
    config = os.path.join(d, name, "agility.yaml")
    steering = (f'sk_lookup: {{required: true, pin: "{BPFFS}/{name}"}}' if BPFFS
                else "sk_lookup: {enabled: false}")
    with open(config, "w") as f:
        f.write(f'server: {{listen: ["127.0.0.1:{port}"], workers: 1, '
                f'control: "{d}/{name}/control.sock", state_dir: "{d}/{name}/state"}}\n'
                f'{steering}\nservices: {{edge: {{}}}}\nzones: ["{d}/{APEX}.zone"]\n{body}')
    return config


def policy(i):
    return (f"pools: {{web4: {pool(i)}}}\npolicies:\n"
            f"  - {{name: web, match: [www.{APEX}], ipv4: web4, ttl: 30, service: edge, "
            "ports: [443]}\n")


def start(d, name, config):
    log = open(os.path.join(d, name, "agilityd.log"), "w")
    return subprocess.Popen([AGILITYD, "-c", config], stdout=log, stderr=log)


def answers_from(port, network):
    found = servers.a_records(port, f"www.{APEX}", timeout=0.2)
    return bool(found) and all(ipaddress.ip_address(a) in network for a in found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--relay", action="store_true", help="Knot DNS between them")
    args = parser.parse_args()
    servers.ensure_ready()
    processes = []
    with tempfile.TemporaryDirectory(prefix="agility-fleet-bench-") as d:
        with open(os.path.join(d, f"{APEX}.zone"), "w") as f:
            f.write(f"$ORIGIN {APEX}.\n$TTL 300\n@ SOA ns1 h 1 60 10 1209600 60\n@ NS ns1\n"
                    "ns1 A 192.0.2.1\nwww A 192.0.2.80\n")
        primary_port, s1, s2, knot_port = (servers.free_port() for _ in range(4))
        upstream = knot_port if args.relay else primary_port
        notified = ("knot: {address: '127.0.0.1:%d'}" % knot_port if args.relay else
                    "s1: {address: '127.0.0.1:%d'}, s2: {address: '127.0.0.1:%d'}" % (s1, s2))
        primary_body = (f"policy_zone: {{name: {POLICY_ZONE}}}\nremotes: {{{notified}}}\n"
                        "transfer: {allow: [{prefix: 127.0.0.0/8}], notify: [%s]}\n"
                        % ("knot" if args.relay else "s1, s2"))
        primary = write_node(d, "primary", primary_port, primary_body + policy(0))
        processes.append(start(d, "primary", primary))
        wait(lambda: answers_from(primary_port, pool(0)))
        if args.relay:
            conf = os.path.join(d, "knot.conf")
            servers.write_knot_conf(
                conf, d, knot_port, [],
                sections=("remote:\n"
                          f"  - id: agility\n    address: 127.0.0.1@{primary_port}\n"
                          f"  - id: s1\n    address: 127.0.0.1@{s1}\n"
                          f"  - id: s2\n    address: 127.0.0.1@{s2}\n"
                          "acl:\n  - id: fleet\n    address: 127.0.0.0/8\n"
                          "    action: [transfer, notify]\n"))
            with open(conf, "a") as f:
                f.write(f'  - domain: {POLICY_ZONE}\n    file: "{d}/relayed.zone"\n'
                        "    master: agility\n    notify: [s1, s2]\n    acl: fleet\n"
                        "    journal-content: changes\n")
            knot_log = open(os.path.join(d, "knot.log"), "w")
            processes.append(subprocess.Popen(["knotd", "-c", conf], stdout=knot_log,
                                              stderr=knot_log))
            wait(lambda: servers.ask(knot_port, POLICY_ZONE))
        secondaries = []
        for name, port in (("s1", s1), ("s2", s2)):
            config = write_node(d, name, port,
                                f"remotes: {{up: {{address: '127.0.0.1:{upstream}'}}}}\n"
                                f"policy_from: {{zone: {POLICY_ZONE}, primaries: [up]}}\n")
            processes.append(start(d, name, config))
            secondaries.append(port)
        try:
            wait(lambda: all(answers_from(p, pool(0)) for p in secondaries))
            times, reloads = [], []
            for i in range(1, args.changes + 1):
                write_node(d, "primary", primary_port, primary_body + policy(i))
                started = time.monotonic()
                subprocess.run([AGILITYCTL, "-c", primary, "reload"], check=True,
                               capture_output=True)
                reloads.append(time.monotonic() - started)
                pending = list(secondaries)
                while pending:
                    pending = [p for p in pending if not answers_from(p, pool(i))]
                    if time.monotonic() - started > 30:
                        raise RuntimeError(f"change {i}: not followed within 30 s")
                times.append(time.monotonic() - started)
                time.sleep(0.05)
            ms = [t * 1000 for t in times]
            print(f"{'Knot relay' if args.relay else 'direct'}, "
                  f"{'sk_lookup on' if BPFFS else 'sk_lookup off'}, {args.changes} changes: "
                  f"reload to the last secondary answering from the new pool "
                  f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
                  f"worst {max(ms):.1f} ms; the primary's reload alone "
                  f"p50 {percentile(reloads, 0.5) * 1000:.1f} ms")
        finally:
            stop(*processes)


if __name__ == "__main__":
    main()
