#!/usr/bin/env python3
"""udp_gso.py: UDP datagrams sent with UDP_SEGMENT (several per send), for tests/netns/16-offloads.sh.

  udp_gso.py recv PORT COUNT SECONDS   prints how many arrived intact, once COUNT did or time is up
  udp_gso.py send ADDR PORT COUNT      COUNT datagrams of 1000 bytes, 8 per send, paced

Each datagram carries its index and a pattern derived from it, so the receiver can tell an
intact one from a cut, merged or corrupted one."""
import select
import socket
import struct
import sys
import time

SIZE, PER_SEND, UDP_SEGMENT = 1000, 8, 103


def body(i):
    head = struct.pack("!I", i)
    return head + bytes((i * 7 + k * 13) & 0xFF for k in range(SIZE - len(head)))


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def send(addr, port, count):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, SIZE)
    for first in range(0, count, PER_SEND):
        n = min(PER_SEND, count - first)
        s.sendto(b"".join(body(i) for i in range(first, first + n)), (addr, port))
        time.sleep(0.002)


def recv(port, count, seconds):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    print("ready", flush=True)
    got, end = set(), time.monotonic() + seconds
    while len(got) < count and time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        d = s.recv(65536)
        if len(d) == SIZE:
            i = struct.unpack("!I", d[:4])[0]
            if i < count and d == body(i):
                got.add(i)
    print(len(got), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        recv(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
