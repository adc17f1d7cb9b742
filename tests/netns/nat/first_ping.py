#!/usr/bin/env python3
"""first_ping.py DST LIMIT: an ICMP echo to DST every 10 ms from one raw socket; prints "ready"
when it starts, then the wall-clock time of the first echo reply, or "timeout" after LIMIT s.
Send errors (no route before the TUN device exists) are ignored. For bench/fallback_time.sh."""
import os
import select
import socket
import struct
import sys
import time


def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


def main():
    dst, limit = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    end, seq, nxt = time.monotonic() + limit, 0, 0.0
    print("ready", flush=True)
    while time.monotonic() < end:
        if time.monotonic() >= nxt:
            seq = (seq + 1) & 0xFFFF
            h = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"vpnpeer-first-ping"
            h = h[:2] + struct.pack("!H", csum(h)) + h[4:]
            try:
                s.sendto(h, (dst, 0))
            except OSError:
                pass
            nxt = time.monotonic() + 0.01
        r, _, _ = select.select([s], [], [], 0.002)
        if r:
            pkt, src = s.recvfrom(2048)
            ihl = (pkt[0] & 0x0F) * 4
            if (src[0] == dst and len(pkt) >= ihl + 6 and pkt[ihl] == 0
                    and struct.unpack("!H", pkt[ihl + 4:ihl + 6])[0] == ident):
                print("%.6f" % time.time(), flush=True)
                return 0
    print("timeout", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
