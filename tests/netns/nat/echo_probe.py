#!/usr/bin/env python3
"""A timestamped UDP echo, for gaps in a path while the network changes (tests/netns/nat, bench/).

  echo_probe.py server BIND PORT
      answer every datagram with itself plus " src=IP:PORT" (the source the server saw); prints
      "ready" once bound; runs until killed (the caller tracks its pid)
  echo_probe.py client ADDR PORT INTERVAL_MS SECONDS OUT
      from ONE socket, send "SEQ T_SEND" every INTERVAL_MS for SECONDS; append one line per reply
      to OUT: "SEQ T_SEND T_RECV SRC" (wall-clock seconds); prints "ready" when it starts
  echo_probe.py gap OUT SINCE
      "first_ms max_gap_ms sent replied": first_ms = from SINCE (wall clock) to the first reply
      to a datagram sent at or after SINCE; max_gap_ms = the longest time without a reply after
      SINCE (from SINCE). -1 where there is no such reply.

One socket on purpose: its NAT mapping is the one that moves or is rebound.
"""
import os
import select
import socket
import sys
import time


def server(bind, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, port))
    print("ready", flush=True)
    while True:
        data, src = s.recvfrom(2048)
        s.sendto(data[:512] + f" src={src[0]}:{src[1]}".encode(), src)


def client(addr, port, interval_ms, secs, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    iv = interval_ms / 1000.0
    end = time.monotonic() + secs
    nxt, seq = time.monotonic(), 0
    with open(out, "a", buffering=1) as f:
        f.write(f"# start {time.time():.6f}\n")
        print("ready", flush=True)
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= nxt:
                seq += 1
                try:
                    s.sendto(f"{seq} {time.time():.6f}".encode(), (addr, port))
                except OSError:
                    pass  # no route for a moment while the host moves
                nxt += iv
                if nxt < now:
                    nxt = now + iv
            r, _, _ = select.select([s], [], [], max(0.0, min(nxt, end) - time.monotonic()))
            while r:
                try:
                    data, _ = s.recvfrom(2048)
                except BlockingIOError:
                    break
                except OSError:
                    break
                parts = data.decode(errors="replace").split()
                if len(parts) == 3 and parts[2].startswith("src="):
                    f.write(f"{parts[0]} {parts[1]} {time.time():.6f} {parts[2][4:]}\n")
                r, _, _ = select.select([s], [], [], 0)
        f.write(f"# sent {seq}\n")


def gap(out, since):
    sent, rows = 0, []
    for line in open(out, errors="replace"):
        if line.startswith("# sent "):
            sent = int(line.split()[2])
        elif not line.startswith("#"):
            p = line.split()
            if len(p) == 4:
                rows.append((float(p[1]), float(p[2])))
    first = min((r for t, r in rows if t >= since), default=None)
    times = sorted(r for _, r in rows if r >= since)
    pts = [since] + times
    gaps = [b - a for a, b in zip(pts, pts[1:])]
    print(f"{(first - since) * 1000 if first else -1:.0f} {max(gaps) * 1000 if gaps else -1:.0f} "
          f"{sent} {len(rows)}")


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "server":
        server(a[1], int(a[2]))
    elif len(a) == 6 and a[0] == "client":
        client(a[1], int(a[2]), float(a[3]), float(a[4]), a[5])
    elif len(a) == 3 and a[0] == "gap":
        gap(a[1], float(a[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main())
