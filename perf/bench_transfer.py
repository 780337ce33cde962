#!/usr/bin/env python3
"""Replication speed (issue 11), side by side with Knot DNS where it applies.

- axfr:   the AXFR-out of an N-name zone (perf/gen_zone.py): wall time of
          `dig AXFR` against agilityd and against knotd serving the same file,
          best of --runs.
- follow: a change on the primary (one record and the serial) until both of
          two agilityd secondaries answer it, over --changes changes; p50, p99
          and max. With agilityd as the primary (zone file edit and
          `agilityctl reload`) and with Knot as the primary (`knotc
          zone-set`/`zone-commit`), on an M-name zone.
- apply:  --apply-changes one-record IXFRs into an agilityd secondary
          holding an N-name zone: from Knot's commit to the secondary
          answering, the secondary's own refresh and apply times (its log),
          and its peak RSS growth over the changes.
- apply-from-agilityd: the same with an agilityd primary (zone file edit
          and `agilityctl reload`), for zones too big for Knot here (20M).

usage: bench_transfer.py [--names N] [--follow-names M] [--changes C] [--runs R]
                         [--apply-changes A] [axfr] [follow] [apply]
                         [apply-from-agilityd]
Everything listens on 127.0.0.1 and stops by itself.
"""
import argparse
import base64
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servers  # noqa: E402

AGILITYD = os.environ.get("AGILITYD", os.path.join(HERE, "..", "build", "agilityd"))
AGILITYCTL = os.environ.get("AGILITYCTL", os.path.join(HERE, "..", "build", "agilityctl"))
APEX = "example.com"


def gen_zone(path, names, serial=1):
    with open(path, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_zone.py"), str(names), APEX],
                       stdout=f, check=True)
    if serial != 1:
        set_serial(path, serial)


def set_serial(path, serial, extra=""):
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("@ SOA"):
            parts = line.split()
            parts[4] = str(serial)
            lines[i] = " ".join(parts)
            break
    text = "\n".join(line for line in lines if not line.startswith("bench-change ")) + extra
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def a_query(name, qid):
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return q + struct.pack("!HH", 1, 1)


def answers(port, name, want, qid=7):
    """True when `name` A answers `want` (a dotted address) on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(a_query(name, qid), ("127.0.0.1", port))
            reply = s.recv(4096)
        except OSError:
            return False
    return socket.inet_aton(want) in reply and (reply[3] & 0xF) == 0


def wait(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return False


def agilityd(directory, name, port, body):
    d = os.path.join(directory, name)
    os.makedirs(d, exist_ok=True)
    config = os.path.join(d, "agility.yaml")
    with open(config, "w") as f:
        f.write(f'server: {{listen: ["127.0.0.1:{port}"], workers: 1, control: "{d}/control.sock", '
                f'state_dir: "{d}/state"}}\nsk_lookup: {{enabled: false}}\n{body}')
    log = open(os.path.join(d, "agilityd.log"), "w")
    process = subprocess.Popen([AGILITYD, "-c", config], stdout=log, stderr=log)
    return process, config


def stop(*processes):
    for p in processes:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def last_ixfr(log_path, count):
    """The secondary's own account of its last IXFR, the count-th: the whole
    refresh (ms), how the steps were applied, and applying them (ms)."""
    with open(log_path) as f:
        found = re.findall(r"IXFR of serial \d+ .*?, ([0-9.]+) ms; (.*?) in ([0-9.]+) ms",
                           f.read())
    if len(found) != count:
        raise RuntimeError(f"expected {count} IXFR log lines, found {len(found)}")
    return float(found[-1][0]), found[-1][1], float(found[-1][2])


def first_copy_served(secondary, port, names, timeout):
    """Waits for the secondary's first AXFR to be served, then resets its
    peak RSS (Linux sets VmHWM to the current RSS): the RSS it returns is
    where the changes' peak is measured from."""
    started = time.monotonic()
    if not wait(lambda: answers(port, f"host1.{APEX}", "10.0.0.1"), timeout):
        raise RuntimeError("the secondary does not follow")
    print(f"apply: first AXFR of {names} names served after {time.monotonic() - started:.1f} s")
    time.sleep(2)
    with open(f"/proc/{secondary.pid}/clear_refs", "w") as f:
        f.write("5")
    return servers.peak_rss_mib(secondary.pid)


def bench_axfr(args, d):
    zone = os.path.join(d, f"{APEX}.zone")
    gen_zone(zone, args.names)
    port, knot_port = servers.free_port(), servers.free_port()
    primary, _ = agilityd(d, "axfr", port, f'zones: ["{zone}"]\n'
                          'transfer: {allow: [{prefix: 127.0.0.0/8}]}\n')
    knot_dir = os.path.join(d, "knot-axfr")
    os.makedirs(knot_dir)
    servers.write_knot_conf(os.path.join(knot_dir, "knot.conf"), knot_dir, knot_port,
                            [(APEX, zone)],
                            sections="acl:\n  - id: any\n    address: 127.0.0.0/8\n"
                                     "    action: transfer\n",
                            zone_settings="    acl: any\n")
    knot = subprocess.Popen(["knotd", "-c", os.path.join(knot_dir, "knot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for p in (port, knot_port):
            if not wait(lambda: answers(p, f"host1.{APEX}", "10.0.0.1"), 300):
                raise RuntimeError(f"nothing answers on {p}")
        results = {}
        for name, p in (("agilityd", port), ("knotd", knot_port)):
            times = []
            for _ in range(args.runs):
                started = time.monotonic()
                # dig reads and parses every message but prints none.
                out = subprocess.run(["dig", "@127.0.0.1", "-p", str(p), APEX, "AXFR", "+noall",
                                      "+stats"], stdout=subprocess.PIPE, text=True,
                                     check=True).stdout
                times.append(time.monotonic() - started)
                size = re.search(r"XFR size: (\d+) records \(messages (\d+), bytes (\d+)\)", out)
                records, messages, octets = (int(x) for x in size.groups())
            results[name] = (min(times), records)
            print(f"axfr {name}: {args.names} names, {records} records in {messages} messages "
                  f"({octets / 1e6:.1f} MB), best {min(times):.2f} s of {args.runs} "
                  f"({records / min(times):,.0f} records/s, dig's reading included)")
        print(f"axfr ratio agilityd/knotd: {results['agilityd'][0] / results['knotd'][0]:.2f}")
    finally:
        stop(primary, knot)


def bench_follow(args, d):
    secret = base64.b64encode(os.urandom(32)).decode()
    zone = os.path.join(d, f"{APEX}.follow.zone")
    gen_zone(zone, args.follow_names)
    port, s1, s2, knot_port = (servers.free_port() for _ in range(4))
    key = f'keys: {{xfr: {{algorithm: hmac-sha256, secret: "{secret}"}}}}\n'
    primary, primary_config = agilityd(
        d, "primary", port,
        key + f'remotes: {{s1: {{address: "127.0.0.1:{s1}", key: xfr}}, '
        f's2: {{address: "127.0.0.1:{s2}", key: xfr}}}}\n'
        f'zones: ["{zone}"]\n'
        'transfer: {allow: [{prefix: 127.0.0.0/8, key: xfr}], notify: [s1, s2]}\n')
    if not wait(lambda: answers(port, f"host1.{APEX}", "10.0.0.1"), 120):
        raise RuntimeError("the primary does not answer")
    secondaries = [agilityd(d, f"s{i}", p, key + f'remotes: {{p: {{address: "127.0.0.1:{port}", '
                            f'key: xfr}}}}\nzones: [{{name: {APEX}, primaries: [p]}}]\n')[0]
                   for i, p in ((1, s1), (2, s2))]
    processes = [primary, *secondaries]
    try:
        for p in (s1, s2):
            if not wait(lambda: answers(p, f"host1.{APEX}", "10.0.0.1"), 120):
                raise RuntimeError("a secondary does not follow")
        delays = []
        for i in range(args.changes):
            address = f"192.0.2.{i % 250 + 1}"
            set_serial(zone, 100 + i, f"bench-change A {address}\n")
            started = time.monotonic()
            subprocess.run([AGILITYCTL, "-c", primary_config, "reload"], check=True,
                           stdout=subprocess.DEVNULL)
            for p in (s1, s2):
                if not wait(lambda: answers(p, f"bench-change.{APEX}", address), 30):
                    raise RuntimeError(f"change {i} did not reach port {p}")
            delays.append((time.monotonic() - started) * 1000)
        print(f"follow agilityd primary ({args.follow_names} names, {args.changes} changes, "
              f"reload to both secondaries answering): p50 {statistics.median(delays):.0f} ms, "
              f"p99 {percentile(delays, 0.99):.0f} ms, max {max(delays):.0f} ms")
        # Knot as the primary of the same two secondaries.
        stop(*processes)
        processes = []
        knot_dir = os.path.join(d, "knot-follow")
        os.makedirs(knot_dir)
        remotes = "".join(f"  - id: s{i}\n    address: 127.0.0.1@{p}\n    key: xfr\n"
                          for i, p in ((1, s1), (2, s2)))
        servers.write_knot_conf(
            os.path.join(knot_dir, "knot.conf"), knot_dir, knot_port, [(APEX, zone)],
            sections=(f"key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {secret}\n"
                      f"remote:\n{remotes}acl:\n  - id: xfr\n    address: 127.0.0.0/8\n"
                      "    key: xfr\n    action: transfer\n"),
            zone_settings="    notify: [s1, s2]\n    acl: xfr\n    journal-content: changes\n")
        knot = subprocess.Popen(["knotd", "-c", os.path.join(knot_dir, "knot.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(knot)
        if not wait(lambda: answers(knot_port, f"host1.{APEX}", "10.0.0.1"), 120):
            raise RuntimeError("knotd does not answer")
        for i, p in ((1, s1), (2, s2)):
            processes.append(agilityd(d, f"k{i}", p, key +
                                      f'remotes: {{p: {{address: "127.0.0.1:{knot_port}", '
                                      f'key: xfr}}}}\nzones: [{{name: {APEX}, primaries: [p]}}]\n')[0])
        for p in (s1, s2):
            if not wait(lambda: answers(p, f"host1.{APEX}", "10.0.0.1"), 120):
                raise RuntimeError("a secondary does not follow knotd")
        knotc = ["knotc", "-c", os.path.join(knot_dir, "knot.conf")]
        delays = []
        for i in range(args.changes):
            address = f"198.51.100.{i % 250 + 1}"
            subprocess.run(knotc + ["zone-begin", APEX], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(knotc + ["zone-set", APEX, f"knot-change{i}", "300", "A", address],
                           check=True, stdout=subprocess.DEVNULL)
            started = time.monotonic()
            subprocess.run(knotc + ["zone-commit", APEX], check=True, stdout=subprocess.DEVNULL)
            for p in (s1, s2):
                if not wait(lambda: answers(p, f"knot-change{i}.{APEX}", address), 30):
                    raise RuntimeError(f"knot change {i} did not reach port {p}")
            delays.append((time.monotonic() - started) * 1000)
        print(f"follow knotd primary ({args.follow_names} names, {args.changes} changes, "
              f"commit to both secondaries answering): p50 {statistics.median(delays):.0f} ms, "
              f"p99 {percentile(delays, 0.99):.0f} ms, max {max(delays):.0f} ms")
    finally:
        stop(*processes)


def bench_apply(args, d):
    secret = base64.b64encode(os.urandom(32)).decode()
    zone = os.path.join(d, f"{APEX}.apply.zone")
    gen_zone(zone, args.names)
    knot_port, port = servers.free_port(), servers.free_port()
    knot_dir = os.path.join(d, "knot-apply")
    os.makedirs(knot_dir)
    servers.write_knot_conf(
        os.path.join(knot_dir, "knot.conf"), knot_dir, knot_port, [(APEX, zone)],
        sections=(f"key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {secret}\n"
                  f"remote:\n  - id: s\n    address: 127.0.0.1@{port}\n    key: xfr\n"
                  "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    key: xfr\n"
                  "    action: transfer\n"),
        zone_settings="    notify: [s]\n    acl: xfr\n    journal-content: changes\n")
    knot = subprocess.Popen(["knotd", "-c", os.path.join(knot_dir, "knot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [knot]
    try:
        if not wait(lambda: answers(knot_port, f"host1.{APEX}", "10.0.0.1"), 300):
            raise RuntimeError("knotd does not answer")
        secondary, _ = agilityd(d, "apply", port,
                                f'keys: {{xfr: {{algorithm: hmac-sha256, secret: "{secret}"}}}}\n'
                                f'remotes: {{p: {{address: "127.0.0.1:{knot_port}", key: xfr}}}}\n'
                                f'zones: [{{name: {APEX}, primaries: [p]}}]\n')
        processes.append(secondary)
        before = first_copy_served(secondary, port, args.names, 600)
        knotc = ["knotc", "-c", os.path.join(knot_dir, "knot.conf")]
        log_path = os.path.join(d, "apply", "agilityd.log")
        totals, knot_times, after_knot, applies, refreshes = [], [], [], [], []
        for i in range(args.apply_changes):
            subprocess.run(knotc + ["zone-begin", APEX], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(knotc + ["zone-set", APEX, f"applied{i}", "300", "A", "192.0.2.200"],
                           check=True, stdout=subprocess.DEVNULL)
            started = time.monotonic()
            subprocess.run(knotc + ["zone-commit", APEX], check=True, stdout=subprocess.DEVNULL)
            if not wait(lambda: answers(knot_port, f"applied{i}.{APEX}", "192.0.2.200"), 600):
                raise RuntimeError("Knot did not apply its change")
            primary_done = time.monotonic()
            if not wait(lambda: answers(port, f"applied{i}.{APEX}", "192.0.2.200"), 600):
                raise RuntimeError("the IXFR was not applied")
            totals.append((time.monotonic() - started) * 1000)
            knot_times.append((primary_done - started) * 1000)
            after_knot.append((time.monotonic() - primary_done) * 1000)
            refresh_ms, how, apply_ms = last_ixfr(log_path, i + 1)
            refreshes.append(refresh_ms)
            applies.append(apply_ms)
        after = servers.peak_rss_mib(secondary.pid)
        print(f"apply: {args.apply_changes} one-record IXFRs into {args.names} names ({how}):")
        for label, values in (("Knot's commit to the secondary answering", totals),
                              ("of which Knot's commit to Knot answering", knot_times),
                              ("Knot answering to the secondary answering", after_knot),
                              ("the secondary's refresh (SOA, IXFR, apply, save)", refreshes),
                              ("applying the step", applies)):
            print(f"  {label}: p50 {percentile(values, 0.5):.1f} ms, "
                  f"p99 {percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms")
        print(f"  RSS {before:.0f} MiB before, peak {after:.0f} MiB over the changes "
              f"(+{after - before:.1f} MiB)")
    finally:
        stop(*processes)


def bench_apply_from_agilityd(args, d):
    """apply, with an agilityd primary: no Knot holding the zone, so that
    --names can reach 20M. A change appends a record and bumps the serial
    in place (the file is not rewritten), then `agilityctl reload`."""
    secret = base64.b64encode(os.urandom(32)).decode()
    zone = os.path.join(d, f"{APEX}.zone")
    gen_zone(zone, args.names)
    # A serial of fixed width, so that each change writes it in place.
    with open(zone, "r+b") as f:
        head = f.read(4096)
        serial_at = head.index(b"@ SOA ns1 hostmaster 1 ") + len(b"@ SOA ns1 hostmaster ")
    base_serial = 1000000
    with open(zone, "r+b") as f:
        text = f.read()
    with open(zone, "wb") as f:
        f.write(text[:serial_at] + str(base_serial).encode() + text[serial_at + 1:])
    del text
    primary_port, port = servers.free_port(), servers.free_port()
    key = f'keys: {{xfr: {{algorithm: hmac-sha256, secret: "{secret}"}}}}\n'
    primary, primary_config = agilityd(
        d, "primary", primary_port,
        key + f'remotes: {{s: {{address: "127.0.0.1:{port}", key: xfr}}}}\n'
        f'zones: ["{zone}"]\n'
        'transfer: {allow: [{prefix: 127.0.0.0/8, key: xfr}], notify: [s]}\n')
    processes = [primary]
    try:
        started = time.monotonic()
        if not wait(lambda: answers(primary_port, f"host1.{APEX}", "10.0.0.1"), 1800):
            raise RuntimeError("the primary does not answer")
        print(f"apply: the primary serves {args.names} names after "
              f"{time.monotonic() - started:.1f} s")
        secondary, _ = agilityd(d, "apply", port,
                                key + f'remotes: {{p: {{address: "127.0.0.1:{primary_port}", '
                                'key: xfr}}\n'
                                f'zones: [{{name: {APEX}, primaries: [p]}}]\n')
        processes.append(secondary)
        before = first_copy_served(secondary, port, args.names, 1800)
        log_path = os.path.join(d, "apply", "agilityd.log")
        reloads, after_primary, applies, refreshes, how = [], [], [], [], ""
        for i in range(args.apply_changes):
            with open(zone, "r+b") as f:
                f.seek(serial_at)
                f.write(str(base_serial + 1 + i).encode())
                f.seek(0, os.SEEK_END)
                f.write(f"applied{i} A 192.0.2.200\n".encode())
            started = time.monotonic()
            subprocess.run([AGILITYCTL, "-c", primary_config, "reload"], check=True,
                           stdout=subprocess.DEVNULL)
            if not wait(lambda: answers(primary_port, f"applied{i}.{APEX}", "192.0.2.200"), 1800):
                raise RuntimeError("the primary did not reload")
            primary_done = time.monotonic()
            if not wait(lambda: answers(port, f"applied{i}.{APEX}", "192.0.2.200"), 600):
                raise RuntimeError("the IXFR was not applied")
            reloads.append((primary_done - started) * 1000)
            after_primary.append((time.monotonic() - primary_done) * 1000)
            refresh_ms, how, apply_ms = last_ixfr(log_path, i + 1)
            refreshes.append(refresh_ms)
            applies.append(apply_ms)
        after = servers.peak_rss_mib(secondary.pid)
        print(f"apply: {args.apply_changes} one-record IXFRs from an agilityd primary into "
              f"{args.names} names ({how}):")
        for label, values in (("the primary's reload to it answering", reloads),
                              ("the primary answering to the secondary answering", after_primary),
                              ("the secondary's refresh (SOA, IXFR, apply, save)", refreshes),
                              ("applying the step", applies)):
            print(f"  {label}: p50 {percentile(values, 0.5):.1f} ms, "
                  f"p99 {percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms")
        print(f"  secondary RSS {before:.0f} MiB before, peak {after:.0f} MiB over the changes "
              f"(+{after - before:.1f} MiB)")
    finally:
        stop(*processes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=1000000)
    parser.add_argument("--follow-names", type=int, default=10000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--apply-changes", type=int, default=20)
    parser.add_argument("which", nargs="*", default=["axfr", "follow", "apply"])
    args = parser.parse_args()
    servers.ensure_ready()
    with tempfile.TemporaryDirectory(prefix="agility-bench-transfer-") as d:
        for which in args.which:
            {"axfr": bench_axfr, "follow": bench_follow, "apply": bench_apply,
             "apply-from-agilityd": bench_apply_from_agilityd}[which](args, d)


if __name__ == "__main__":
    main()
