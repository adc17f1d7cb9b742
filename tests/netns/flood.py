#!/usr/bin/env python3
"""Hostile first packets for the flood tests (tests/netns/08-flood.sh), from raw IPv4 sockets.

  flood.py hello TARGET_IP PORT NAME SRC COUNT RATE       padded HELLOs naming NAME
  flood.py stun  TARGET_IP PORT SRC COUNT RATE            classic 20-byte STUN Binding requests

SRC is an address or a prefix "A.B.C.D/LEN": each packet comes from a random address in it and a
random source port (1024-65535), so the victim sees thousands of sources. The HELLOs are what a
client's first handshake packet looks like (vpnpeer's wire format, version 2: HELLO|PAYLOAD|PADDED,
1200 bytes, packet id 1, a fresh sender index each) with a ClientHello-shaped payload that is not a
real one. COUNT packets at most RATE per second; prints one JSON line {"sent": N, "bytes": B}
(bytes of UDP payload). Bounded by COUNT and by COUNT / RATE + 5 seconds.
"""
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time

MIN_INITIAL = 1200


def hello(name):
    name = name.encode()
    payload = b"\x16\x03\x01\x00\xf0\x01\x00\x00\xec\x03\x03" + os.urandom(230)
    fixed = struct.pack("!BBBBII", 0x41, 2, 0x01 | 0x02 | 0x10, 0,
                        random.getrandbits(32) | 1, 0)
    head = fixed + struct.pack("!I", 1) + bytes([len(name)]) + name
    pad = MIN_INITIAL - (len(head) + 2 + len(payload))
    return head + struct.pack("!H", pad) + bytes(pad) + payload


def stun():
    return struct.pack("!HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)


def ipv4_udp(src, sport, dst, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, random.getrandbits(16), 0, 64,
                      socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
    csum = 0
    for i in range(0, 20, 2):
        csum += (hdr[i] << 8) | hdr[i + 1]
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~csum & 0xFFFF) + hdr[12:]
    return hdr + udp


def main(argv):
    kind = argv[1]
    if kind == "hello":
        target, port, name, src, count, rate = argv[2], int(argv[3]), argv[4], argv[5], \
            int(argv[6]), float(argv[7])
        make = lambda: hello(name)
    elif kind == "stun":
        target, port, src, count, rate = argv[2], int(argv[3]), argv[4], int(argv[5]), \
            float(argv[6])
        make = stun
    else:
        raise SystemExit("usage: flood.py hello|stun ...")
    net = ipaddress.ip_network(src, strict=False)
    first, size = int(net.network_address), net.num_addresses
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = nbytes = 0
    start = time.monotonic()
    deadline = start + count / rate + 5
    while sent < count and time.monotonic() < deadline:
        due = start + sent / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        addr = str(ipaddress.IPv4Address(first + (random.randrange(size) if size > 1 else 0)))
        payload = make()
        try:
            sock.sendto(ipv4_udp(addr, random.randint(1024, 65535), target, port, payload),
                        (target, 0))
        except OSError:
            continue  # a full socket buffer drops one; the count says what went out
        sent += 1
        nbytes += len(payload)
    print(json.dumps({"sent": sent, "bytes": nbytes}))


if __name__ == "__main__":
    main(sys.argv)
