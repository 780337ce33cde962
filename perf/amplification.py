#!/usr/bin/env python3
"""Worst amplification factor over our zones: starts agilityd on the given
configuration (default: the shipped one, steering off), asks every owner name
of every zone for every common type over UDP, with EDNS (4096) and without,
and reports the largest response/query size ratio. Also checks that no UDP
response exceeds what the query allowed (512 bytes, or the EDNS size up to
the server's max_udp_size).

usage: amplification.py [CONFIG]     exit status 1 when a response is too big
"""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "perf"))
from servers import free_port  # noqa: E402
AGILITYD = os.environ.get("AGILITYD", f"{ROOT}/build/agilityd")
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
         "ANY": 255}


def query(name, qtype, edns):
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".") if p)
    packet = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 1 if edns else 0)
    packet += question + b"\0" + struct.pack("!HH", qtype, 1)
    if edns:
        packet += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return packet


def main():
    config_path = sys.argv[1] if len(sys.argv) > 1 else f"{ROOT}/config/agility.yaml"
    text = open(config_path).read()
    zones = [os.path.abspath(os.path.join(os.path.dirname(config_path), z))
             for z in re.findall(r"^\s*-\s*(\S+\.zone)\s*$", text, re.M)]
    names = set()
    for zone in zones:
        listing = subprocess.run(["ldns-read-zone", "-z", zone], capture_output=True, text=True,
                                 check=True).stdout
        names.update(line.split()[0] for line in listing.splitlines()
                     if line and not line.startswith(";"))
    with tempfile.TemporaryDirectory(prefix="agility-amp-") as d:
        port = free_port()
        config = f"{d}/agility.yaml"
        with open(config, "w") as f:
            f.write(f'server: {{listen: ["127.0.0.1:{port}"], workers: 1, '
                    f'control: "{d}/control.sock"}}\nsk_lookup: {{enabled: false}}\n')
            f.write(f"zones: {zones!r}\n".replace("'", '"'))
            pools = re.search(r"^pools:\n((?:  .*\n)+)", text, re.M)
            policies = re.search(r"^policies:\n((?:  .*\n)+)", text, re.M)
            if pools and policies:
                f.write("pools:\n" + pools.group(1))
                f.write("policies:\n" + re.sub(r"^\s*(service|ports|protocols):.*\n", "",
                                               policies.group(1), flags=re.M))
        log = open(f"{d}/agilityd.log", "w")
        daemon = subprocess.Popen([AGILITYD, "-c", config], stderr=log)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(f"{d}/control.sock"):
                if daemon.poll() is not None or time.monotonic() > deadline:
                    sys.exit("agilityd did not start:\n" + open(log.name).read())
                time.sleep(0.02)
            worst, too_big, asked = (0.0, ""), [], 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                for name in sorted(names):
                    for tname, qtype in TYPES.items():
                        for edns in (0, 4096):
                            packet = query(name, qtype, edns)
                            s.sendto(packet, ("127.0.0.1", port))
                            answer = s.recv(65535)
                            asked += 1
                            limit = 1232 if edns else 512
                            if len(answer) > limit:
                                too_big.append(f"{name} {tname} edns={edns}: {len(answer)}")
                            ratio = len(answer) / len(packet)
                            if ratio > worst[0]:
                                worst = (ratio, f"{name} {tname} {'EDNS 4096' if edns else 'no EDNS'}"
                                                f": {len(packet)} -> {len(answer)} bytes")
        finally:
            daemon.terminate()
            daemon.wait()
    print(f"{asked} queries over {len(names)} names of {len(zones)} zones")
    print(f"worst amplification: {worst[0]:.2f}x ({worst[1]})")
    print(f"responses larger than allowed: {len(too_big)}")
    for line in too_big[:10]:
        print("  ", line)
    sys.exit(1 if too_big else 0)


if __name__ == "__main__":
    main()
