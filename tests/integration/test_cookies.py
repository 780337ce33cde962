#!/usr/bin/env python3
"""DNS cookies (RFC 7873, server cookies of RFC 9018) on the real agilityd:
dig +cookie sees a good cookie; a valid server cookie exempts a client from
rate limiting; a client with only a client cookie that goes over its limit
gets BADCOOKIE (with a cookie that then exempts it) instead of TC; malformed
options get FORMERR; secrets rotate on reload; and Knot DNS's mod-cookies,
sharing the secret, accepts our cookies and we accept its.

Run by `meson test cookies`; needs dig and knotd (scripts/deps test).
"""
import os
import re
import socket
import struct
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import agilityctl, dig_raw, free_port, servers, write_file  # noqa: E402
from test_agilityd import (RELOAD_ZONE, ServerTestCase, edge_config, encode_name,  # noqa: E402
                           parse_metrics)

SHARED = "e5e973e5a6b2a43f48e7dc849e37bfcf"  # RFC 9018 Appendix A's, shared with Knot
OTHER = "445536bcd2513298075a5d379663c962"
NEWER = "dd3bdf9344b678b185a6f5cb60fca715"
RCODE_FORMERR, RCODE_BADCOOKIE = 1, 23
FLAG_TC = 0x0200


def cookie_query(cookies, name="www.example.com", qid=0x4343, question=True):
    """An A query with an OPT carrying one COOKIE option per item of
    `cookies` (bytes, sent as given); `question` False: QDCOUNT 0."""
    options = b"".join(struct.pack("!HH", 10, len(c)) + c for c in cookies)
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(options)) + options
    body = encode_name(name) + struct.pack("!HH", 1, 1) if question else b""
    return struct.pack("!HHHHHH", qid, 0, 1 if question else 0, 0, 0, 1) + body + opt


def skip_name(data, pos):
    while True:
        length = data[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos


def reply_facts(data):
    """(full rcode, TC set, ANCOUNT, the COOKIE option's data or None)."""
    _, flags, qdcount, ancount, nscount, arcount = struct.unpack("!HHHHHH", data[:12])
    pos = 12
    for _ in range(qdcount):
        pos = skip_name(data, pos) + 4
    rcode, cookie = flags & 0xF, None
    for i in range(ancount + nscount + arcount):
        pos = skip_name(data, pos)
        rtype, _, ttl, rdlength = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == 41 and i >= ancount + nscount:
            rcode |= (ttl >> 24) << 4
            at = pos
            while at + 4 <= pos + rdlength:
                code, length = struct.unpack("!HH", data[at:at + 4])
                if code == 10:
                    cookie = data[at + 4:at + 4 + length]
                at += 4 + length
        pos += rdlength
    return rcode, bool(flags & FLAG_TC), ancount, cookie


def exchange(port, packet, source="127.0.0.1", timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        return reply_facts(s.recv(65535))


def cookie_burst(port, source, cookie, count=40):
    """`count` queries at once from `source` with `cookie`; returns
    (full, truncated, badcookie, silent) and the last BADCOOKIE's cookie."""
    full = truncated = bad = 0
    learned = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        for i in range(count):
            s.sendto(cookie_query([cookie], qid=i), ("127.0.0.1", port))
        deadline = time.monotonic() + 0.5
        try:
            while True:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                rcode, tc, _, returned = reply_facts(s.recv(4096))
                if rcode == RCODE_BADCOOKIE:
                    bad += 1
                    learned = returned
                elif tc:
                    truncated += 1
                else:
                    full += 1
        except socket.timeout:
            pass
    return (full, truncated, bad, count - full - truncated - bad), learned


class CookieCase(ServerTestCase):
    """One worker, rate limiting at 5 a second with slip 2, and cookies."""
    ZONES = {"example.com.zone": RELOAD_ZONE}
    SECRETS = [SHARED, OTHER]

    @classmethod
    def config_text(cls):
        cls.metrics_port = free_port()
        text = edge_config(cls.port, cls.control, cls.metrics_port)
        return text.replace("  workers: 2", "  workers: 1") + (
            "rate_limit: {enabled: true, responses_per_second: 5, slip: 2}\n"
            f"cookies: {{secrets: [{', '.join(cls.SECRETS)}]}}\n")

    def metric(self, name, **labels):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            return parse_metrics(r.read().decode()).get((name, tuple(labels.items())), 0.0)

    def learn(self, client_cookie, source="127.0.0.1"):
        rcode, _, _, cookie = exchange(self.port, cookie_query([client_cookie]), source)
        self.assertEqual(rcode, 0)
        self.assertEqual(len(cookie), 24)
        self.assertEqual(cookie[:8], client_cookie)
        return cookie


class CookieTests(CookieCase):
    def test_dig_sees_a_good_cookie_and_keeps_it(self):
        out = dig_raw(self.port, "+cookie", "www.example.com", "A").stdout
        found = re.search(r"; COOKIE: ([0-9a-f]{48}) \(good\)", out)
        self.assertIsNotNone(found, out)
        self.assertIn("status: NOERROR", out)
        # Sent back while fresh, it is echoed as it is.
        again = dig_raw(self.port, f"+cookie={found.group(1)}", "www.example.com", "A").stdout
        self.assertIn(f"; COOKIE: {found.group(1)} (good)", again)
        # Over TCP as well.
        tcp = dig_raw(self.port, "+tcp", "+cookie", "www.example.com", "A").stdout
        self.assertRegex(tcp, r"; COOKIE: [0-9a-f]{48} \(good\)")

    def test_malformed_cookie_options_get_formerr(self):
        # Each from an address of its own, under the rate limit.
        sources = (f"127.0.{20 + i}.1" for i in range(10))
        for cookie in (b"", bytes(7), bytes(9), bytes(15), bytes(41)):
            rcode, _, ancount, returned = exchange(self.port, cookie_query([cookie]),
                                                   next(sources))
            self.assertEqual((rcode, ancount, returned), (RCODE_FORMERR, 0, None), len(cookie))
        rcode, _, _, _ = exchange(self.port, cookie_query([bytes(8), bytes(8)]), next(sources))
        self.assertEqual(rcode, RCODE_FORMERR, "two COOKIE options")
        for size in (8, 16, 40):  # a server cookie of 8 to 32 octets is sound
            self.assertEqual(exchange(self.port, cookie_query([bytes(size)]), next(sources))[0],
                             0, size)

    def test_a_query_without_question_learns_a_cookie(self):
        client = b"\x0f" * 8
        rcode, _, ancount, cookie = exchange(self.port, cookie_query([client], question=False))
        self.assertEqual((rcode, ancount), (0, 0))
        self.assertEqual(cookie[:8], client)
        self.assertEqual(len(cookie), 24)

    def test_a_valid_cookie_is_not_rate_limited(self):
        cookie = self.learn(b"validvld", source="127.0.3.1")
        before = self.metric("agility_cookies_total", server_cookie="valid")
        (full, truncated, bad, silent), _ = cookie_burst(self.port, "127.0.3.1", cookie)
        self.assertEqual((full, truncated, bad, silent), (40, 0, 0, 0))
        self.assertGreaterEqual(self.metric("agility_cookies_total", server_cookie="valid") - before,
                                40)
        # From another address the same cookie is worth nothing.
        (full, truncated, bad, silent), _ = cookie_burst(self.port, "127.0.5.1", cookie)
        self.assertLessEqual(full, 7)
        self.assertGreaterEqual(bad, 15)

    def test_over_the_limit_a_client_cookie_gets_badcookie_not_tc(self):
        before = self.metric("agility_rate_limited_total", action="badcookie")
        (full, truncated, bad, silent), learned = cookie_burst(self.port, "127.0.4.1",
                                                               b"clientck")
        self.assertGreaterEqual(full, 5)
        self.assertLessEqual(full, 7, "more than the burst went out whole")
        self.assertEqual(truncated, 0)
        self.assertGreaterEqual(bad, 15)
        self.assertGreaterEqual(silent, 15)
        self.assertGreaterEqual(
            self.metric("agility_rate_limited_total", action="badcookie") - before, 15)
        # The BADCOOKIE's cookie, sent back, is answered in full while the
        # address's bucket is still empty.
        self.assertEqual(learned[:8], b"clientck")
        (full, truncated, bad, silent), _ = cookie_burst(self.port, "127.0.4.1", learned, 20)
        self.assertEqual((full, truncated, bad, silent), (20, 0, 0, 0))


class CookieRotationTests(CookieCase):
    """A fleet rotates: the new secret goes first and the old one stays
    accepted, then the old one goes."""

    def reload(self, secrets):
        with open(self.config, encoding="utf-8") as f:
            text = f.read()
        write_file(self.config, re.sub(r"cookies: .*\n",
                                       f"cookies: {{secrets: [{', '.join(secrets)}]}}\n", text))
        agilityctl("-s", self.control, "reload")

    def test_old_cookies_stay_valid_until_their_secret_goes(self):
        cookie = self.learn(b"rotating", source="127.0.6.1")
        self.reload([NEWER, SHARED])
        (full, _, _, _), _ = cookie_burst(self.port, "127.0.6.1", cookie)
        self.assertEqual(full, 40, "a cookie of the second secret is still valid")
        renewed = self.learn(b"rotating", source="127.0.6.1")
        rcode, _, _, echoed = exchange(self.port, cookie_query([cookie]), "127.0.6.1")
        self.assertNotEqual(echoed, cookie, "renewed with the first secret")
        self.assertEqual(echoed[8:12], renewed[8:12])  # version, reserved
        self.reload([NEWER])
        (full, _, bad, _), _ = cookie_burst(self.port, "127.0.6.1", cookie)
        self.assertLessEqual(full, 7, "a cookie of a dropped secret is not valid")
        self.assertGreaterEqual(bad, 15)
        (full, _, _, _), _ = cookie_burst(self.port, "127.0.6.1", renewed, 20)
        self.assertEqual(full, 20)


class KnotCookieTests(CookieCase):
    """Knot DNS's mod-cookies with the fleet's secret: each accepts the
    other's server cookies (RFC 9018 is what makes them interoperate)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.knot_port = free_port(avoid=(cls.port,))
        knot_dir = os.path.join(cls.dir, "knot")
        os.mkdir(knot_dir)
        zone = os.path.join(knot_dir, "example.com.zone")
        write_file(zone, RELOAD_ZONE)
        conf = os.path.join(knot_dir, "knot.conf")
        servers.write_knot_conf(conf, knot_dir, cls.knot_port, [("example.com", zone)],
                                sections=f"mod-cookies:\n  - id: fleet\n    secret: 0x{SHARED}\n",
                                zone_settings="    module: mod-cookies/fleet\n")
        cls.knot_log = open(os.path.join(knot_dir, "knotd.log"), "wb")
        cls.knot = subprocess.Popen(["knotd", "-c", conf], stdout=cls.knot_log,
                                    stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not servers.ask(cls.knot_port, "www.example.com"):
            if cls.knot.poll() is not None or time.monotonic() > deadline:
                cls.tearDownClass()
                raise AssertionError("knotd did not start")
            time.sleep(0.02)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "knot", None) is not None:
            cls.knot.terminate()
            cls.knot.wait(timeout=10)
            cls.knot_log.close()
        super().tearDownClass()

    def test_knot_takes_our_cookie(self):
        ours = self.learn(b"toknot00")
        rcode, _, ancount, echoed = exchange(self.knot_port, cookie_query([ours]))
        self.assertEqual((rcode, ancount), (0, 1), "Knot answers, no BADCOOKIE")
        # Without a valid one, Knot (which enforces cookies) says BADCOOKIE.
        self.assertEqual(exchange(self.knot_port, cookie_query([b"toknot00"]))[0],
                         RCODE_BADCOOKIE)
        self.assertEqual(echoed[:8], b"toknot00")

    def test_we_take_knots_cookie(self):
        rcode, _, _, knots = exchange(self.knot_port, cookie_query([b"fromknot"]))
        self.assertEqual(rcode, RCODE_BADCOOKIE)
        self.assertEqual(len(knots), 24)
        (full, truncated, bad, silent), _ = cookie_burst(self.port, "127.0.0.1", knots)
        self.assertEqual((full, truncated, bad, silent), (40, 0, 0, 0),
                         "Knot's cookie exempts the client here")


if __name__ == "__main__":
    unittest.main(verbosity=2)
