#!/usr/bin/env python3
"""Fleets (issue 12): one policy for every node, through DNS replication.

- FleetTest: an agilityd primary publishes its pools and policies as the
  policy zone (`policy_zone:`); two agilityd secondaries take theirs from it
  (`policy_from:`). A pool change on the primary (YAML edit, `agilityctl
  reload`) is answered from the new pool by all three within 1 s, and the old
  prefix drains on all three; a live `agilityctl shift` on the primary
  reaches both secondaries; their status says where the policy came from and
  its serial; a restarted primary publishes the same serial; answers during
  a change pair the old pool with the old TTL or the new with the new. The
  primary's catalog (`catalog_zone:`) lists its zones: the secondaries serve
  them with none of their own, and a zone file added on the primary is
  served by both within 1 s of the reload, and gone when removed.
- KnotRelayTest: the same with Knot DNS between the primary and the
  secondaries, carrying the policy zone unchanged (within 1 s plus the
  second Knot always waits before it notifies); Knot is also the primary
  of a catalog zone (RFC 9432) both secondaries follow: a member added is
  served by both within 2 s of Knot's NOTIFY, and a member removed stops
  being served.
- BrokenPolicyZoneTest: Knot is the primary of a policy zone written by hand
  in the layout (config/policy_zone.h). A change that would be refused as
  YAML (an overlapping prefix) is refused on both secondaries, counted and
  logged, and the policy in force keeps answering, through a restart too;
  mended, it applies.

Every node steers its pools with sk_lookup (drains are steering state), so
the suite runs in a network namespace of its own:

    tests/integration/netns_run.sh python3 tests/integration/test_fleet.py -v

Run by `meson test fleet`; needs knot and bind9-dnsutils (scripts/deps test).
AGILITYD and AGILITYCTL name the binaries (default build/).
"""
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "perf"))
import servers  # noqa: E402
from harness import AgilitydProcess  # noqa: E402
from test_transfer import (AGILITYCTL, Agilityd, KnotControl, dig, status,  # noqa: E402
                           wait_for)

BPFFS = os.environ.get("AGILITY_BPFFS", "")
APEX = "fleet.example"
POLICY_ZONE = "policy.fleet.example"
CATALOG = "catalog.fleet.example"
WWW = f"www.{APEX}"
OLD = ipaddress.ip_network("127.91.0.0/24")
NEW = ipaddress.ip_network("127.91.1.0/24")
OTHER = ipaddress.ip_network("127.91.2.0/24")
KNOT_NOTIFY_DELAY = 1.0  # seconds Knot waits after a refresh before its NOTIFY

ZONE = f"""$ORIGIN {APEX}.
$TTL 300
@ SOA ns1 hostmaster 1 60 10 1209600 60
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.80
"""


def policy_yaml(prefixes):
    """pools: and policies: with pool web4 of `prefixes` [(network, weight)]."""
    parts = ", ".join(f"{{prefix: {p}, weight: {w}}}" for p, w in prefixes)
    return (f"pools:\n  web4: [{parts}]\npolicies:\n"
            f"  - {{name: web, match: [{WWW}], ipv4: web4, ttl: 30, service: edge, "
            "ports: [443]}\n")


def serves(node, member):
    return [str(a) for a in node.answers(f"www.{member}")] == ["192.0.2.50"]


def member_zone(member):
    return (f"$ORIGIN {member}.\n$TTL 300\n@ SOA ns1 hostmaster 1 60 10 1209600 60\n@ NS ns1\n"
            "ns1 A 192.0.2.1\nwww A 192.0.2.50\n")


class Node(Agilityd):
    """One agilityd of the fleet, steering with sk_lookup; started, stopped
    and its log read as test_transfer's agilityd nodes are."""

    def __init__(self, directory, name, port):  # not Agilityd's: write() makes the config
        self.name = name
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir)
        self.port = port
        self.config = os.path.join(self.dir, "agility.yaml")
        self.zone = os.path.join(self.dir, f"{APEX}.zone")
        with open(self.zone, "w") as f:
            f.write(ZONE)
        AgilitydProcess.__init__(self, self.config, os.path.join(self.dir, "agilityd.log"))

    def write(self, body, zones=None):
        """The configuration: `body` after the node's own settings, and
        `zones` (default: the node's copy of fleet.example)."""
        zones = [self.zone] if zones is None else zones
        with open(self.config, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1:{self.port}"]
  workers: 1
  control: "{self.dir}/control.sock"
  state_dir: "{self.dir}/state"
sk_lookup: {{required: true, pin: "{BPFFS}/{self.name}", drain_grace_s: 60}}
services: {{edge: {{}}}}
{f"zones: {json.dumps(zones)}" if zones else ""}
{body}""")

    def stop(self):
        """Stops the node (test_transfer.Agilityd.stop); fails unless it
        exits cleanly (a sanitizer's report at exit, a leak, fails the run)."""
        if self.process is None:
            return
        super().stop()
        if self.process.returncode != 0:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                 f"{self.text_log()[-3000:]}")

    def ctl(self, *args):
        out = subprocess.run([AGILITYCTL, "-c", self.config, *args], capture_output=True,
                             text=True, timeout=30)
        if out.returncode != 0:
            raise AssertionError(f"agilityctl {' '.join(args)} on {self.name}: "
                                 f"{out.stdout}{out.stderr}")
        return out.stdout

    def status_json(self):
        return json.loads(self.ctl("status", "--json"))

    def answers(self, name=WWW):
        return [ipaddress.ip_address(a) for a in servers.a_records(self.port, name)]

    def answers_only_from(self, *networks, queries=1):
        for _ in range(queries):
            found = self.answers()
            if not found or not all(any(a in n for n in networks) for a in found):
                return False
        return True

    def draining(self):
        bindings = json.loads(self.ctl("bindings", "--json"))["bindings"]
        return {b["prefix"] for b in bindings if b["draining"]}

    def steered(self):
        bindings = json.loads(self.ctl("bindings", "--json"))["bindings"]
        return {b["prefix"] for b in bindings if not b["draining"]}


def require_namespace():
    if not BPFFS or os.environ.get("AGILITY_NETNS") != "1":
        raise RuntimeError("run through tests/integration/netns_run.sh (root, a network "
                           "namespace and a bpffs of the test's own): the nodes steer with "
                           "sk_lookup")


class FleetCase(unittest.TestCase):
    """A fleet: cls.primary (agilityd, or None) and cls.secondaries."""

    primary = None
    secondaries = ()

    @classmethod
    def nodes(cls):
        return ([cls.primary] if cls.primary else []) + list(cls.secondaries)

    primary_zones = None

    def write_primary(self, prefixes):
        self.primary.write(self.primary_body + policy_yaml(prefixes), self.primary_zones)

    def change_pool(self, prefixes, new_networks):
        """Edits the primary's YAML and reloads it; returns the seconds until
        every node answered from `new_networks` only."""
        self.write_primary(prefixes)
        started = time.monotonic()
        self.primary.ctl("reload")
        wait_for(lambda: all(n.answers_only_from(*new_networks) for n in self.nodes()),
                 "every node answering from the new pool", timeout=15)
        return time.monotonic() - started

    def assert_fleet_moved(self, old, new):
        for node in self.nodes():
            self.assertTrue(node.answers_only_from(new, queries=20), node.name)
            # The old prefix is no longer answered, and still steered for
            # the clients that hold it (TTL 30 s plus the grace).
            wait_for(lambda: str(old) in node.draining(), f"{node.name} draining {old}")
            self.assertIn(str(new), node.steered(), node.name)

    @classmethod
    def stop_all(cls):
        failures = []
        for node in cls.nodes():
            try:
                node.stop()
            except AssertionError as e:
                failures.append(str(e))
        if failures:
            raise AssertionError("\n".join(failures))


class FleetTest(FleetCase):
    @classmethod
    def setUpClass(cls):
        require_namespace()
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-fleet-")
        ports = [servers.free_port() for _ in range(3)]
        cls.primary = Node(cls.tmp.name, "primary", ports[0])
        cls.secondaries = [Node(cls.tmp.name, f"s{i}", ports[i]) for i in (1, 2)]
        # The primary's zones are listed in its catalog: the secondaries
        # follow the catalog and have no zone of their own.
        cls.members = os.path.join(cls.tmp.name, "members")
        os.makedirs(cls.members)
        with open(os.path.join(cls.members, "member1.test.zone"), "w") as f:
            f.write(member_zone("member1.test"))
        cls.primary_zones = [cls.primary.zone, cls.members]
        cls.primary_body = (
            f"policy_zone: {{name: {POLICY_ZONE}}}\n"
            f"catalog_zone: {{name: {CATALOG}}}\n"
            f"remotes: {{s1: {{address: '127.0.0.1:{ports[1]}'}}, "
            f"s2: {{address: '127.0.0.1:{ports[2]}'}}}}\n"
            "transfer: {allow: [{prefix: 127.0.0.0/8}], notify: [s1, s2]}\n")
        cls.primary.write(cls.primary_body + policy_yaml([(OLD, 1)]), cls.primary_zones)
        for node in cls.secondaries:
            node.write(f"remotes: {{primary: {{address: '127.0.0.1:{ports[0]}'}}}}\n"
                       f"policy_from: {{zone: {POLICY_ZONE}, primaries: [primary]}}\n"
                       f"catalogs: [{{name: {CATALOG}, primaries: [primary]}}]\n", zones=[])
        cls.primary.start()
        for node in cls.secondaries:
            node.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_all()
        finally:
            cls.tmp.cleanup()

    def test_1_a_pool_change_reaches_every_node_within_a_second(self):
        for node in self.nodes():
            wait_for(lambda: node.answers_only_from(OLD), f"{node.name} answering from {OLD}")
        seconds = self.change_pool([(NEW, 1)], [NEW])
        self.assertLess(seconds, 1.0)
        self.assert_fleet_moved(OLD, NEW)
        for node in self.secondaries:
            self.assertIn(f"policy zone {POLICY_ZONE}. serial", node.text_log())

    def test_2_a_shift_on_the_primary_reaches_the_fleet(self):
        self.change_pool([(NEW, 1), (OTHER, 1)], [NEW, OTHER])
        started = time.monotonic()
        self.primary.ctl("shift", "web4", str(OTHER), "0")
        wait_for(lambda: all(n.answers_only_from(NEW, queries=30) for n in self.nodes()),
                 "every node answering from the prefix left at weight 1", timeout=15)
        self.assertLess(time.monotonic() - started, 1.0)
        weights = {p["prefix"]: p["weight"]
                   for p in self.secondaries[0].status_json()["pools"][0]["prefixes"]}
        self.assertEqual(weights, {str(NEW): 1, str(OTHER): 0})
        self.primary.ctl("shift", "web4", str(OTHER), "reset")
        wait_for(lambda: all(any(a in OTHER for a in sum((n.answers() for _ in range(40)), []))
                             for n in self.secondaries), "the reset reaching the secondaries")

    def test_3_status_says_where_the_policy_came_from(self):
        published = self.primary.status_json()["policy"]
        self.assertEqual(published["role"], "published")
        self.assertEqual(published["zone"], f"{POLICY_ZONE}.")
        for node in self.secondaries:
            wait_for(lambda: node.status_json()["policy"]["serial"] == published["serial"],
                     f"{node.name} on the primary's serial")
            followed = node.status_json()["policy"]
            self.assertEqual(followed["role"], "followed")
            self.assertEqual(followed["refused"], 0)
            self.assertIn(f"policy from zone {POLICY_ZONE}. serial {published['serial']}",
                          node.ctl("status"))
        # The zone itself, as any secondary would take it.
        axfr = dig(self.primary.port, POLICY_ZONE, "AXFR")
        self.assertIn('"name=web4"', axfr)
        self.assertRegex(axfr, r"version\.policy\.fleet\.example\.\s+60\s+IN\s+TXT\s+\"1\"")

    def test_4_a_restarted_primary_publishes_the_same_serial(self):
        serial = self.primary.status_json()["policy"]["serial"]
        self.primary.stop()
        self.primary.start()
        self.assertEqual(self.primary.status_json()["policy"]["serial"], serial)


    def test_5_a_query_sees_the_old_policy_or_the_new_one(self):
        """Pool and TTL change together; answers that pair one's pool with
        the other's TTL would be a mix."""
        node = self.secondaries[0]
        self.change_pool([(OLD, 1)], [OLD])
        seen = set()
        stop = threading.Event()

        def ask():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.5)
                while not stop.is_set():
                    try:
                        s.sendto(servers.a_query(WWW, 1), ("127.0.0.1", node.port))
                        reply = s.recv(4096)
                    except OSError:
                        continue
                    # One A record, its owner compressed (2), then type,
                    # class, TTL, length and address.
                    if struct.unpack("!H", reply[6:8])[0] == 1:
                        at = len(reply) - 16
                        ttl, = struct.unpack("!I", reply[at + 6:at + 10])
                        address = ipaddress.ip_address(reply[at + 12:at + 16])
                        seen.add((address in OLD, address in NEW, ttl))

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            self.primary.write(self.primary_body +
                               policy_yaml([(NEW, 1)]).replace("ttl: 30", "ttl: 31"),
                               self.primary_zones)
            self.primary.ctl("reload")
            wait_for(lambda: (False, True, 31) in seen, "answers of the new policy")
        finally:
            stop.set()
            asker.join()
        self.assertEqual(seen, {(True, False, 30), (False, True, 31)})


    def test_6_a_zone_added_on_the_primary_reaches_the_fleet(self):
        """The primary's catalog_zone lists the zones it serves from files."""
        for node in self.secondaries:
            wait_for(lambda: serves(node, "member1.test"), f"{node.name} serving member1")
        added = os.path.join(self.members, "member2.test.zone")
        with open(added, "w") as f:
            f.write(member_zone("member2.test"))
        started = time.monotonic()
        self.primary.ctl("reload")
        wait_for(lambda: all(serves(n, "member2.test") for n in self.secondaries),
                 "the added zone on both secondaries", timeout=10)
        self.assertLess(time.monotonic() - started, 1.0)
        catalog = dig(self.primary.port, CATALOG, "AXFR")
        self.assertRegex(catalog, r'version\.catalog\.fleet\.example\.\s+0\s+IN\s+TXT\s+"2"')
        self.assertRegex(catalog, r"[0-9a-f]{40}\.zones\.catalog\.fleet\.example\.\s+0\s+IN\s+"
                                  r"PTR\s+member2\.test\.")
        os.unlink(added)
        self.primary.ctl("reload")
        wait_for(lambda: all(status(dig(n.port, "www.member2.test")) == "REFUSED"
                             for n in self.secondaries), "the removed zone gone everywhere")
        for node in self.secondaries:
            self.assertTrue(serves(node, "member1.test"))


class KnotFleetCase(KnotControl, FleetCase):
    """A fleet with knotd (cls.knot_conf) in it."""

    @classmethod
    def start_knot(cls, port):
        """Starts knotd; returns once it serves the policy zone."""
        cls.knot_log = open(os.path.join(cls.tmp.name, "knot.log"), "a")
        cls.knot = subprocess.Popen(["knotd", "-c", cls.knot_conf], stdout=cls.knot_log,
                                    stderr=cls.knot_log)
        wait_for(lambda: "NOERROR" == status(dig(port, POLICY_ZONE, "SOA")),
                 "knotd serving the policy zone")

    @classmethod
    def tearDownClass(cls):
        cls.knot.terminate()
        cls.knot.wait(timeout=20)
        cls.knot_log.close()
        try:
            cls.stop_all()
        finally:
            cls.tmp.cleanup()


class KnotRelayTest(KnotFleetCase):
    """agilityd primary -> Knot DNS -> two agilityd secondaries; Knot is also
    the primary of a catalog both secondaries follow."""

    CATALOG = "catalog.invalid"

    @classmethod
    def setUpClass(cls):
        require_namespace()
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-relay-")
        d = cls.tmp.name
        ports = [servers.free_port() for _ in range(4)]
        knot_port = ports[3]
        cls.primary = Node(d, "primary", ports[0])
        cls.secondaries = [Node(d, f"s{i}", ports[i]) for i in (1, 2)]
        cls.primary_body = (
            f"policy_zone: {{name: {POLICY_ZONE}}}\n"
            f"remotes: {{knot: {{address: '127.0.0.1:{knot_port}'}}}}\n"
            "transfer: {allow: [{prefix: 127.0.0.0/8}], notify: [knot]}\n")
        cls.primary.write(cls.primary_body + policy_yaml([(OLD, 1)]))
        for node in cls.secondaries:
            node.write(f"remotes: {{knot: {{address: '127.0.0.1:{knot_port}'}}}}\n"
                       f"policy_from: {{zone: {POLICY_ZONE}, primaries: [knot]}}\n"
                       f"catalogs: [{{name: {cls.CATALOG}, primaries: [knot]}}]\n")
        zones = [(cls.CATALOG, f"$ORIGIN {cls.CATALOG}.\n$TTL 0\n"
                               "@ SOA invalid. invalid. 1 60 10 1209600 0\n@ NS invalid.\n"
                               'version TXT "2"\nm1.zones PTR member1.test.\n')]
        zones += [(m, member_zone(m)) for m in ("member1.test", "member2.test")]
        paths = []
        for name, text in zones:
            paths.append((name, os.path.join(d, f"{name}.zone")))
            with open(paths[-1][1], "w") as f:
                f.write(text)
        cls.knot_conf = os.path.join(d, "knot.conf")
        servers.write_knot_conf(
            cls.knot_conf, d, knot_port, paths,
            sections=("remote:\n"
                      f"  - id: agility\n    address: 127.0.0.1@{ports[0]}\n"
                      f"  - id: s1\n    address: 127.0.0.1@{ports[1]}\n"
                      f"  - id: s2\n    address: 127.0.0.1@{ports[2]}\n"
                      "acl:\n  - id: fleet\n    address: 127.0.0.0/8\n"
                      "    action: [transfer, notify]\n"),
            zone_settings="    notify: [s1, s2]\n    acl: fleet\n")
        # The relayed zone: a plain secondary zone to Knot, kept with its
        # changes so that it answers IXFR in turn.
        with open(cls.knot_conf, "a") as f:
            f.write(f'  - domain: {POLICY_ZONE}\n    file: "{d}/relayed.zone"\n'
                    "    master: agility\n    notify: [s1, s2]\n    acl: fleet\n"
                    "    journal-content: changes\n")
        cls.primary.start()
        cls.start_knot(knot_port)
        for node in cls.secondaries:
            node.start()

    def change_catalog(self, *edits):
        self.knot_change(self.CATALOG, *[(edit[0], self.CATALOG, *edit[1:]) for edit in edits])

    def test_1_a_pool_change_reaches_every_node_through_knot(self):
        for node in self.nodes():
            wait_for(lambda: node.answers_only_from(OLD), f"{node.name} answering from {OLD}")
        seconds = self.change_pool([(NEW, 1)], [NEW])
        # Knot sends its own NOTIFY one second after a refresh, always
        # (knotd 3.2: zone_schedule_notify(conf, zone, 1) in
        # events/handlers/refresh.c; notify-delay only adds to it): the
        # relay's second comes on top of the fleet's.
        self.assertLess(seconds, 1.0 + KNOT_NOTIFY_DELAY)
        self.assert_fleet_moved(OLD, NEW)

    def test_2_catalog_members_come_and_go_on_every_secondary(self):
        for node in self.secondaries:
            wait_for(lambda: serves(node, "member1.test"), f"{node.name} serving member1")
            self.assertFalse(serves(node, "member2.test"))
        started = time.monotonic()
        self.change_catalog(("zone-set", "m2.zones", "0", "PTR", "member2.test."))
        wait_for(lambda: all(serves(n, "member2.test") for n in self.secondaries),
                 "the added member on both secondaries", timeout=10)
        self.assertLess(time.monotonic() - started, 2.0)
        self.change_catalog(("zone-unset", "m1.zones", "PTR"))
        wait_for(lambda: all(status(dig(n.port, "www.member1.test")) == "REFUSED"
                             for n in self.secondaries), "the removed member gone everywhere")
        for node in self.secondaries:
            self.assertTrue(serves(node, "member2.test"))


class BrokenPolicyZoneTest(KnotFleetCase):
    """Knot is the primary of a policy zone written by hand; two agilityd
    secondaries follow it."""

    @classmethod
    def setUpClass(cls):
        require_namespace()
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-broken-policy-")
        d = cls.tmp.name
        ports = [servers.free_port() for _ in range(3)]
        knot_port = ports[0]
        cls.secondaries = [Node(d, f"s{i}", ports[i]) for i in (1, 2)]
        for node in cls.secondaries:
            node.write(f"remotes: {{knot: {{address: '127.0.0.1:{knot_port}'}}}}\n"
                       f"policy_from: {{zone: {POLICY_ZONE}, primaries: [knot]}}\n")
        zone = os.path.join(d, "policy.zone")
        with open(zone, "w") as f:
            f.write(f"""$ORIGIN {POLICY_ZONE}.
$TTL 60
@ SOA @ hostmaster 1 60 10 1209600 60
@ NS @
version TXT "1"
0.pools TXT "name=web4"
old.0.pools APL 1:{OLD}
0.policies TXT "name=web" "match={WWW}" "ipv4=web4" "ttl=30" "service=edge" "ports=443"
""")
        cls.knot_conf = os.path.join(d, "knot.conf")
        servers.write_knot_conf(
            cls.knot_conf, d, knot_port, [(POLICY_ZONE, zone)],
            sections=("remote:\n"
                      f"  - id: s1\n    address: 127.0.0.1@{ports[1]}\n"
                      f"  - id: s2\n    address: 127.0.0.1@{ports[2]}\n"
                      "acl:\n  - id: fleet\n    address: 127.0.0.0/8\n    action: transfer\n"),
            zone_settings="    notify: [s1, s2]\n    acl: fleet\n")
        cls.start_knot(knot_port)
        for node in cls.secondaries:
            node.start()

    def refused(self, node):
        return node.status_json()["policy"]["refused"]

    def test_a_broken_policy_zone_changes_nothing_anywhere(self):
        for node in self.secondaries:
            wait_for(lambda: node.answers_only_from(OLD), f"{node.name} answering from {OLD}")
        # An overlapping prefix would be refused in YAML: refused here too.
        self.knot_change(POLICY_ZONE,
                         ("zone-set", POLICY_ZONE, "wide.0.pools", "60", "APL", "1:127.91.0.0/16"),
                         ("zone-unset", POLICY_ZONE, "old.0.pools", "APL"),
                         ("zone-set", POLICY_ZONE, "old.0.pools", "60", "APL", f"1:{NEW}"))
        for node in self.secondaries:
            wait_for(lambda: self.refused(node) == 1, f"{node.name} refusing the zone")
            self.assertTrue(node.answers_only_from(OLD, queries=20), node.name)
            policy = node.status_json()["policy"]
            self.assertIn("overlaps", policy["refused_why"])
            self.assertIn("wide.0.pools.policy.fleet.example.", policy["refused_why"])
            self.assertEqual(node.status_json()["pools"][0]["prefixes"][0]["prefix"], str(OLD))
            self.assertIn("policy zone refused", node.text_log())
            self.assertIn(f'agility_policy_zone_refused_total{{zone="{POLICY_ZONE}."}} 1',
                          node.ctl("stats"))
        # A restart keeps the policy last accepted, not the refused copy.
        restarted = self.secondaries[0]
        restarted.stop()
        restarted.start()
        self.assertTrue(restarted.answers_only_from(OLD, queries=20))
        self.assertEqual(self.refused(restarted), 1)
        self.assertIn("overlaps", restarted.status_json()["policy"]["refused_why"])
        # Mended, the change applies everywhere.
        self.knot_change(POLICY_ZONE, ("zone-unset", POLICY_ZONE, "wide.0.pools", "APL"))
        for node in self.secondaries:
            wait_for(lambda: node.answers_only_from(NEW), f"{node.name} answering from {NEW}")
            wait_for(lambda: str(OLD) in node.draining(), f"{node.name} draining {OLD}")
            self.assertEqual(self.refused(node), 1)

    def test_b_a_copy_refused_for_local_reasons_is_read_again_on_reload(self):
        """A policy steering to a service a node does not declare is refused
        there; once the node declares it, a reload reads the same copy."""
        for node in self.secondaries:
            wait_for(lambda: node.answers_only_from(NEW), f"{node.name} answering from {NEW}")
        before = [self.refused(node) for node in self.secondaries]
        self.knot_change(POLICY_ZONE,
                         ("zone-unset", POLICY_ZONE, "0.policies", "TXT"),
                         ("zone-set", POLICY_ZONE, "0.policies", "60", "TXT",
                          f'"name=web" "match={WWW}" "ipv4=web4" "ttl=30" "service=proxy" '
                          '"ports=443"'),
                         ("zone-set", POLICY_ZONE, "other.0.pools", "60", "APL", f"1:{OTHER}"))
        for node, count in zip(self.secondaries, before):
            wait_for(lambda: self.refused(node) == count + 1, f"{node.name} refusing")
            self.assertIn("service 'proxy' is not declared under services",
                          node.status_json()["policy"]["refused_why"])
            self.assertTrue(node.answers_only_from(NEW, queries=10))
        node = self.secondaries[0]
        with open(node.config) as f:
            config = f.read()
        with open(node.config, "w") as f:
            f.write(config.replace("services: {edge: {}}", "services: {edge: {}, proxy: {}}"))
        node.ctl("reload")
        wait_for(lambda: any(a in OTHER for _ in range(20) for a in node.answers()),
                 "the copy read again after the reload")
        self.assertTrue(self.secondaries[1].answers_only_from(NEW, queries=10))


if __name__ == "__main__":
    unittest.main()
