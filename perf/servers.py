"""Start and stop agilityd, NSD, Knot DNS and the UDP echo floor on one zone,
for the benchmark scripts beside this file. Every server runs in the
foreground on 127.0.0.1:PORT with a config written into a temp directory."""
import errno
import os
import random
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGILITYD = os.environ.get("AGILITYD", f"{ROOT}/build/agilityd")
UDP_ECHO = os.environ.get("UDP_ECHO", f"{ROOT}/build/perf/udp_echo")


def ensure_ready():
    """Installs what the benchmarks need (NSD, Knot DNS, dnsperf, gnuplot from
    Debian) and builds agilityd and the echo floor, as on a fresh machine."""
    subprocess.run([f"{ROOT}/scripts/deps", "perf"], check=True)
    subprocess.run([f"{ROOT}/scripts/build", "build"], check=True, stdout=subprocess.DEVNULL)


def write_zone(path, names, plain=False):
    """Writes perf/gen_zone.py's example.com zone of `names` names to `path`;
    with `plain`, one A record per name instead (hostN.example.com)."""
    if plain:
        with open(path, "w") as f:
            f.write("$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\n"
                    "ns1 A 192.0.2.1\n")
            for start in range(0, names, 100000):
                f.write("".join(f"host{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n"
                                for i in range(start, min(start + 100000, names))))
        return
    with open(path, "w") as f:
        subprocess.run([sys.executable, f"{ROOT}/perf/gen_zone.py", str(names)], stdout=f,
                       check=True)


def free_port(avoid=()):
    """A port free right now for UDP and TCP on 127.0.0.1 and ::1 (when the
    machine has ::1), not in `avoid`. It is drawn below the kernel's ephemeral
    range, so that no client socket (dnsperf's, another test's) is handed it
    between this check and the server's bind."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    draw = random.Random()
    for _ in range(200):
        port = draw.randrange(10000, ephemeral_low)
        if port in avoid:
            continue
        try:
            for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    try:
                        with socket.socket(family, kind) as probe:
                            probe.bind((host, port))
                    except OSError as e:
                        no_ipv6 = e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
                        if family == socket.AF_INET or not no_ipv6:
                            raise
        except OSError:
            continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


def a_query(name, query_id):
    """A DNS query for `name` A, without EDNS."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    return struct.pack("!HHHHHH", query_id, 0, 1, 0, 0, 0) + question + b"\0\0\1\0\1"


def answer_addresses(reply):
    """(id, rcode, [the IPv4 addresses of the A records in the answer section])."""
    query_id, flags, qdcount, ancount = struct.unpack("!HHHH", reply[:8])
    at = 12
    for _ in range(qdcount):
        while reply[at] != 0:
            if reply[at] >= 0xC0:
                at += 1
                break
            at += reply[at] + 1
        at += 5
    addresses = []
    for _ in range(ancount):
        if reply[at] >= 0xC0:
            at += 2
        else:
            while reply[at] != 0:
                at += reply[at] + 1
            at += 1
        rtype, _, _, length = struct.unpack("!HHIH", reply[at:at + 10])
        at += 10
        if rtype == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[at:at + 4]))
        at += length
    return query_id, flags & 0xF, addresses


def a_records(port, name, timeout=0.5):
    """The A addresses 127.0.0.1@port answers for `name` over UDP; [] on
    no answer or any error."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(a_query(name, 0x4154), ("127.0.0.1", port))
            return answer_addresses(s.recv(4096))[2]
        except OSError:
            return []


def ask(port, name="ns1.example.com", timeout=0.2):
    """One UDP query; True when anything answers."""
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # Connected, so that "nothing listens yet" comes back at once as
        # ECONNREFUSED instead of a timeout: readiness is timed to the poll.
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        try:
            s.send(struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + question)
            return len(s.recv(4096)) >= 12
        except OSError:
            return False


def descendants(pid):
    """pid and all its descendant pids."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    found, pending = [], [pid]
    while pending:
        p = pending.pop()
        found.append(p)
        pending += children.get(p, [])
    return found


def cpu_seconds(pid):
    """User + system CPU of pid and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / ticks


def peak_rss_mib(pid, field="VmHWM"):
    """Largest VmHWM (or another /proc status field in kB, such as VmRSS)
    among pid and its descendants (NSD's children share the parent's pages
    copy-on-write, so the sum would double count)."""
    best = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            pass
    return best / 1024


# agilityd's pool `edge` for each value of Server(policy=...): True (or
# "single") is one /20; "weighted" is four prefixes of different sizes, all in
# 127.77.0.0/16, weights 3, 1, 1, 0 (the /26 of weight 0 is never drawn).
POOLS = {
    "single": '"127.77.0.0/20"',
    "weighted": ("[{prefix: 127.77.0.0/20, weight: 3}, {prefix: 127.77.16.0/22, weight: 1}, "
                 "{prefix: 127.77.20.0/24, weight: 1}, {prefix: 127.77.21.0/26, weight: 0}]"),
}


def write_knot_conf(path, directory, port, zones, udp_workers=1, tcp_workers=1, sections="",
                    zone_settings=""):
    """A knotd configuration: 127.0.0.1@port, state in `directory`, zones
    [(domain, file)] loaded whole with no semantic checks and no journal.
    `sections` (policies, modules...) go before the template; `zone_settings`
    ("    key: value" lines) into every zone."""
    with open(path, "w") as f:
        f.write(f"""server:
    rundir: "{directory}"
    listen: 127.0.0.1@{port}
    udp-workers: {udp_workers}
    tcp-workers: {tcp_workers}
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: "{directory}"
{sections}template:
  - id: default
    storage: "{directory}"
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
""")
        f.writelines(f'  - domain: {domain}\n    file: "{file}"\n{zone_settings}'
                     for domain, file in zones)


def write_unbound_conf(path, directory, port, anchor_file, stubs, stub_port, dead_port):
    """A validating Unbound on 127.0.0.1@port that never looks beyond the
    machine: each zone in `stubs` goes to 127.0.0.1@stub_port, "." to
    `dead_port`, where nothing listens, and the only trust anchors are those
    in `anchor_file` (DNSKEY lines). "test." is one of Unbound's built-in
    empty zones (RFC 6761) unless told otherwise."""
    stub_zones = "".join(f'stub-zone:\n  name: "{zone}"\n  stub-addr: 127.0.0.1@{stub_port}\n'
                         for zone in stubs)
    with open(path, "w") as f:
        f.write(f"""server:
  interface: 127.0.0.1
  port: {port}
  do-ip6: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "{directory}"
  pidfile: "{directory}/unbound.pid"
  use-syslog: no
  logfile: "{directory}/unbound.log"
  verbosity: 1
  val-log-level: 2
  num-threads: 1
  so-reuseport: no
  qname-minimisation: no
  module-config: "validator iterator"
  trust-anchor-file: "{anchor_file}"
  local-zone: "test." nodefault
remote-control:
  control-enable: no
{stub_zones}stub-zone:
  name: "."
  stub-addr: 127.0.0.1@{dead_port}
""")


def write_delv_anchors(path, dnskeys):
    """delv's trust-anchors clause for DNSKEY lines ("owner [ttl] [IN] DNSKEY
    flags protocol algorithm base64...")."""
    with open(path, "w") as f:
        f.write("trust-anchors {\n")
        for key in dnskeys:
            fields = key.split()
            at = fields.index("DNSKEY")
            owner = fields[0] if fields[0].endswith(".") else fields[0] + "."
            f.write(f'  {owner} static-key {" ".join(fields[at + 1:at + 4])} '
                    f'"{"".join(fields[at + 4:])}";\n')
        f.write("};\n")


class Server:
    def __init__(self, kind, directory, zone_file, workers, port=None, policy=False,
                 extra_server="", extra_config=""):
        """policy (agilityd only): False, no policy; True or "single", *.example.com
        answered from a /20 pool; "weighted", from the weighted pool in POOLS."""
        self.kind, self.dir, self.zone, self.workers = kind, directory, zone_file, workers
        self.port = port or free_port()
        if policy is True:
            policy = "single"
        if policy and policy not in POOLS:
            raise ValueError(f"policy {policy!r}: False, True or one of {sorted(POOLS)}")
        self.policy = policy
        self.extra_server = extra_server  # more agilityd server settings, "key: value, ..."
        self.extra_config = extra_config  # more agilityd top-level YAML, whole lines
        self.process = None

    def command(self):
        d, port, w = self.dir, self.port, self.workers
        zone = os.path.abspath(self.zone)
        if self.kind == "agilityd":
            policy = (f'pools: {{edge: {POOLS[self.policy]}}}\n'
                      'policies: [{name: edge, match: ["*.example.com"], ipv4: edge}]\n'
                      if self.policy else "")
            with open(f"{d}/agility.yaml", "w") as f:
                f.write(f'server: {{listen: ["127.0.0.1:{port}"], workers: {w}, '
                        f'control: "{d}/control.sock"'
                        f'{", " + self.extra_server if self.extra_server else ""}}}\n'
                        f"sk_lookup: {{enabled: false}}\nzones: [\"{zone}\"]\n{policy}"
                        f"{self.extra_config}")
            return [AGILITYD, "-c", f"{d}/agility.yaml"]
        if self.kind == "nsd":
            with open(f"{d}/nsd.conf", "w") as f:
                f.write(f"""server:
  ip-address: 127.0.0.1@{port}
  server-count: {w}
  reuseport: yes
  username: ""
  database: ""
  zonelistfile: "{d}/zone.list"
  xfrdfile: "{d}/xfrd.state"
  xfrdir: "{d}"
  pidfile: "{d}/nsd.pid"
  logfile: "{d}/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
  tcp-count: 100
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: "{zone}"
""")
            return ["nsd", "-d", "-c", f"{d}/nsd.conf"]
        if self.kind == "knot":
            write_knot_conf(f"{d}/knot.conf", d, port, [("example.com", zone)], udp_workers=w)
            return ["knotd", "-c", f"{d}/knot.conf"]
        if self.kind == "echo":
            return [UDP_ECHO, str(port)]
        if self.kind == "echo-uring":
            return [UDP_ECHO, "--uring", str(port)]
        raise ValueError(self.kind)

    def start(self, timeout=120):
        """Starts and waits until it answers; returns seconds to readiness."""
        started = time.monotonic()
        self.log = open(f"{self.dir}/{self.kind}.log", "w")
        self.process = subprocess.Popen(self.command(), stdout=self.log, stderr=self.log)
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: " + open(self.log.name).read()[-2000:])
            if ask(self.port):
                return time.monotonic() - started
            time.sleep(0.005)
        raise RuntimeError(f"{self.kind} did not answer within {timeout} s")

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def peak_rss_mib(self):
        return peak_rss_mib(self.process.pid)

    def rss_mib(self):
        return peak_rss_mib(self.process.pid, "VmRSS")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
