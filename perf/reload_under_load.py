#!/usr/bin/env python3
"""Pool swaps and live shifts under load: the issue-4 and issue-9 acceptance test.

Starts agilityd, drives it with dnsperf at a fixed rate, and meanwhile sends
its own checked queries while, every INTERVAL seconds, one change is made:
the policy's pool is rewritten in the YAML and reloaded with `agilityctl
reload` (/20 -> weighted pool of two /24s -> ... -> /24 -> /32 -> /20), or,
while the weighted pool is in force, one of its prefixes is shifted live with
`agilityctl shift`: to weight 0 at once, back up over a ramp, then reset.
Once, in the middle, a broken YAML is written and reloaded: the reload must
fail and serving must go on. Then it verifies:

  * dnsperf and the checker lost no query, and saw no SERVFAIL;
  * every checked answer lies in the pool in force when it was received, or in
    the one just before it (or in a pool whose change was under way);
  * every query sent 100 ms or more after `agilityctl reload` returned was
    answered from the new pool, and none sent 100 ms or more after a shift to
    weight 0 returned came from the prefix shifted away;
  * the broken reload exited non-zero and named file:line.

Prints a table and exits non-zero when any requirement fails. Everything runs
on 127.0.0.1 and stops by itself.

usage: reload_under_load.py [--duration S] [--interval S] [--rate QPS]
                            [--check-rate QPS] [--agilityd PATH] [--agilityctl PATH]
"""
import argparse
import ipaddress
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "perf"))
from servers import a_query, answer_addresses, free_port  # noqa: E402

WEIGHTED = "weighted"
WEIGHTED_PREFIXES = ["127.80.0.0/24", "127.80.1.0/24"]
SHIFTED = WEIGHTED_PREFIXES[1]
# The changes, in turn: a pool name reloads it; a tuple is `agilityctl shift`
# arguments for the weighted pool.
STEPS = [WEIGHTED, ("edge", SHIFTED, "0"), ("edge", SHIFTED, "2", "--over", "1"),
         ("edge", SHIFTED, "--reset"), "127.78.1.0/24", "127.79.0.1/32", "127.77.0.0/20"]
POOLS = ["127.77.0.0/20", "127.78.1.0/24", "127.79.0.1/32", WEIGHTED]
NAMES = [f"host{i}.example.com" for i in range(100)]
STALE_LIMIT = 0.100  # seconds after the reload returns

ZONE = """$ORIGIN example.com.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 127.0.0.53
* A 192.0.2.1
"""


def config_text(port, control, pool, state_dir):
    if pool == WEIGHTED:
        pool_yaml = "[" + ", ".join(f'{{prefix: "{p}", weight: 1}}' for p in WEIGHTED_PREFIXES) + "]"
    else:
        pool_yaml = f'"{pool}"'
    return (f'server: {{listen: ["127.0.0.1:{port}"], workers: 2, control: "{control}", '
            f'state_dir: "{state_dir}"}}\n'
            "sk_lookup: {enabled: false}\n"
            "zones: [example.com.zone]\n"
            f"pools: {{edge: {pool_yaml}}}\n"
            'policies: [{name: swapped, match: ["*.example.com"], ipv4: edge, ttl: 30}]\n')


def networks_of(pool):
    return [ipaddress.ip_network(p) for p in (WEIGHTED_PREFIXES if pool == WEIGHTED else [pool])]


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Checker:
    """Sends queries at a fixed rate and records when each answer came back."""

    def __init__(self, port, rate):
        self.port, self.rate = port, rate
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.sent = {}       # id -> send time
        self.answers = []    # (send time, receive time, rcode, addresses)
        self.stop = False
        self.lock = threading.Lock()

    def send_loop(self, duration):
        start = time.monotonic()
        n = 0
        while True:
            now = time.monotonic()
            if now - start >= duration:
                break
            due = start + n / self.rate
            if now < due:
                time.sleep(due - now)
            qid = n % 65536
            with self.lock:
                self.sent[qid] = time.monotonic()
            self.sock.send(a_query(random.choice(NAMES), qid))
            n += 1
        self.total = n

    def receive_loop(self):
        while not self.stop:
            try:
                packet = self.sock.recv(4096)
            except socket.timeout:
                continue
            received = time.monotonic()
            qid, rcode, addresses = answer_addresses(packet)
            with self.lock:
                sent = self.sent.pop(qid, None)
            if sent is not None:
                self.answers.append((sent, received, rcode, addresses))


def run_dnsperf(port, rate, duration, directory):
    queries = os.path.join(directory, "queries.txt")
    with open(queries, "w") as f:
        for name in NAMES:
            f.write(f"{name} A\n")
    return subprocess.Popen(
        ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, "-l", str(duration),
         "-Q", str(rate), "-c", "4", "-t", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse_dnsperf(output):
    def number(label):
        match = re.search(label + r":\s+(\d+)", output)
        return int(match.group(1)) if match else None
    codes = dict(re.findall(r"(\w+) (\d+) \(", output.split("Response codes:")[-1].splitlines()[0]))
    return number("Queries sent"), number("Queries completed"), number("Queries lost"), codes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=10000, help="dnsperf queries per second")
    parser.add_argument("--check-rate", type=int, default=2000, help="checked queries per second")
    parser.add_argument("--agilityd", default=os.environ.get("AGILITYD", f"{ROOT}/build/agilityd"))
    parser.add_argument("--agilityctl",
                        default=os.environ.get("AGILITYCTL", f"{ROOT}/build/agilityctl"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="agility-reload-") as directory:
        port = free_port()
        control = os.path.join(directory, "control.sock")
        config = os.path.join(directory, "agility.yaml")
        state_dir = os.path.join(directory, "state")
        with open(os.path.join(directory, "example.com.zone"), "w") as f:
            f.write(ZONE)
        write_atomically(config, config_text(port, control, POOLS[0], state_dir))
        log = open(os.path.join(directory, "agilityd.log"), "w+")
        daemon = subprocess.Popen([args.agilityd, "-c", config], stderr=log)
        for _ in range(100):
            if os.path.exists(control):
                break
            time.sleep(0.05)
        else:
            sys.exit("agilityd did not start:\n" + open(log.name).read())

        checker = Checker(port, args.check_rate)
        receiver = threading.Thread(target=checker.receive_loop)
        sender = threading.Thread(target=checker.send_loop, args=(args.duration,))
        dnsperf = run_dnsperf(port, args.rate, args.duration, directory)
        receiver.start()
        sender.start()

        # (started, returned, pool, prefix shifted to weight 0 or None)
        history = [(time.monotonic(), time.monotonic(), POOLS[0], None)]
        reload_times, shift_times, broken_result = [], [], None
        step, start = 0, time.monotonic()
        broken_at = args.duration / 2
        while time.monotonic() - start < args.duration - args.interval:
            time.sleep(args.interval)
            if broken_result is None and time.monotonic() - start >= broken_at:
                write_atomically(config, "server: [this is not\n")
                done = subprocess.run([args.agilityctl, "-s", control, "reload"],
                                      capture_output=True, text=True)
                broken_result = (done.returncode, done.stdout + done.stderr)
                continue
            change = STEPS[step % len(STEPS)]
            step += 1
            pool = history[-1][2] if isinstance(change, tuple) else change
            if isinstance(change, tuple):
                command = ["shift", *change]
            else:
                write_atomically(config, config_text(port, control, pool, state_dir))
                command = ["reload"]
            began = time.monotonic()
            done = subprocess.run([args.agilityctl, "-s", control, *command],
                                  capture_output=True, text=True)
            returned = time.monotonic()
            if done.returncode != 0:
                sys.exit(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")
            (shift_times if isinstance(change, tuple) else reload_times).append(returned - began)
            away = change[1] if isinstance(change, tuple) and change[2] == "0" else None
            history.append((began, returned, pool, away))

        sender.join()
        time.sleep(0.5)
        checker.stop = True
        receiver.join()
        perf_output, _ = dnsperf.communicate(timeout=args.duration + 30)
        daemon.terminate()
        daemon_exit = daemon.wait(timeout=10)

    networks = {pool: networks_of(pool) for pool in POOLS}

    def allowed(received):
        """Pools acceptable for an answer received at `received`."""
        current = 0
        for i, (began, returned, _, _) in enumerate(history):
            if returned <= received:
                current = i
        pools = {history[current][2]}
        if current > 0:
            pools.add(history[current - 1][2])
        if current + 1 < len(history) and history[current + 1][0] <= received:
            pools.add(history[current + 1][2])  # reload under way
        return pools

    wrong, stale, servfail, errors = 0, 0, 0, 0
    for sent, received, rcode, addresses in checker.answers:
        if rcode == 2:
            servfail += 1
        if rcode != 0 or len(addresses) != 1:
            errors += 1
            continue
        address = ipaddress.ip_address(addresses[0])
        pools = allowed(received)
        if not any(address in n for p in pools for n in networks[p]):
            wrong += 1
        # Sent at least STALE_LIMIT after a change returned: must be the new
        # pool, and not the prefix a shift just set to weight 0.
        for i, (began, returned, pool, away) in enumerate(history[1:], start=1):
            next_began = history[i + 1][0] if i + 1 < len(history) else float("inf")
            if returned + STALE_LIMIT <= sent < next_began:
                if not any(address in n for n in networks[pool]):
                    stale += 1
                elif away is not None and address in ipaddress.ip_network(away):
                    stale += 1
    checked_lost = checker.total - len(checker.answers)
    sent, completed, lost, codes = parse_dnsperf(perf_output)
    perf_servfail = int(codes.get("SERVFAIL", 0))
    broken_ok = (broken_result is not None and broken_result[0] != 0
                 and re.search(r"agility\.yaml:\d+:", broken_result[1]) is not None)

    rows = [
        ("dnsperf queries sent / completed", f"{sent} / {completed}", True),
        ("dnsperf queries lost", lost, lost == 0),
        ("dnsperf SERVFAIL", perf_servfail, perf_servfail == 0),
        ("checked queries sent / answered", f"{checker.total} / {len(checker.answers)}", True),
        ("checked queries lost", checked_lost, checked_lost == 0),
        ("checked SERVFAIL / other errors", f"{servfail} / {errors}", servfail == 0 and errors == 0),
        ("answers outside the pool in force (or the one before)", wrong, wrong == 0),
        (f"answers from an old pool or a prefix shifted to 0, >= {STALE_LIMIT * 1000:.0f} ms "
         "after the change", stale, stale == 0),
        ("pool reloads / live shifts", f"{len(reload_times)} / {len(shift_times)}",
         len(reload_times) >= 2 and len(shift_times) >= 2),
        ("agilityctl reload time max / mean (ms)",
         f"{max(reload_times) * 1000:.1f} / {sum(reload_times) / len(reload_times) * 1000:.1f}"
         if reload_times else "-", True),
        ("agilityctl shift time max / mean (ms)",
         f"{max(shift_times) * 1000:.1f} / {sum(shift_times) / len(shift_times) * 1000:.1f}"
         if shift_times else "-", True),
        ("broken YAML reload rejected with file:line", broken_ok, broken_ok),
        ("agilityd exit code after SIGTERM", daemon_exit, daemon_exit == 0),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"reload under load: {args.duration:.0f} s, dnsperf {args.rate} qps, "
          f"checker {args.check_rate} qps, a reload or shift every {args.interval} s")
    for label, value, ok in rows:
        print(f"  {label:<{width}}  {str(value):>16}  {'ok' if ok else 'FAIL'}")
    if broken_result is not None and not broken_ok:
        print("broken reload output:", broken_result)
    sys.exit(0 if all(ok for _, _, ok in rows) else 1)


if __name__ == "__main__":
    main()
