#!/usr/bin/env python3
"""A checksummed TCP byte stream for transfers through the tunnel (tests/netns/nat/lab.sh).

  stream.py recv BIND PORT PROGRESS LIMIT
      accept one connection, read to EOF; every 0.25 s write the byte count to PROGRESS;
      print "listening" once bound and "bytes=N sha256=H secs=S" at EOF
  stream.py send ADDR PORT MB RATE STOP LIMIT
      send up to MB MiB of random bytes (RATE MiB/s when > 0, else as fast as possible), or
      until the file STOP exists; then close and print "bytes=N sha256=H secs=S"

Everything is bounded by LIMIT seconds: on expiry the side prints "timeout bytes=N" and exits 2.
The receiver's sha256 equal to the sender's means every byte arrived, once and in order.
"""
import hashlib
import os
import socket
import sys
import time

CHUNK = 64 * 1024


def recv(bind, port, progress, limit):
    end = time.monotonic() + limit
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((bind, port))
    ls.listen(1)
    print("listening", flush=True)
    ls.settimeout(max(0.1, end - time.monotonic()))
    try:
        conn, _ = ls.accept()
    except socket.timeout:
        print("timeout bytes=0", flush=True)
        return 2
    h, n, t0, last = hashlib.sha256(), 0, time.monotonic(), 0.0
    while True:
        left = end - time.monotonic()
        if left <= 0:
            print(f"timeout bytes={n}", flush=True)
            return 2
        conn.settimeout(min(left, 0.25))
        try:
            b = conn.recv(CHUNK)
        except socket.timeout:
            b = None
        except OSError as e:
            print(f"error {e} bytes={n}", flush=True)
            return 1
        if b == b"":
            break
        if b:
            h.update(b)
            n += len(b)
        now = time.monotonic()
        if now - last >= 0.25:
            with open(progress + ".tmp", "w") as f:
                f.write(f"{n}\n")
            os.replace(progress + ".tmp", progress)
            last = now
    with open(progress, "w") as f:
        f.write(f"{n}\n")
    conn.close()
    print(f"bytes={n} sha256={h.hexdigest()} secs={time.monotonic() - t0:.2f}", flush=True)
    return 0


def send(addr, port, mb, rate, stop, limit):
    end = time.monotonic() + limit
    s = None
    while s is None:  # the listener may not be reachable yet: retry within the limit
        try:
            s = socket.create_connection((addr, port), timeout=2)
        except OSError:
            if time.monotonic() > end:
                print("timeout bytes=0 (no connection)", flush=True)
                return 2
            time.sleep(0.2)
    total = int(mb * 1024 * 1024)
    h, n, t0 = hashlib.sha256(), 0, time.monotonic()
    while n < total and not (stop and os.path.exists(stop)):
        left = end - time.monotonic()
        if left <= 0:
            print(f"timeout bytes={n}", flush=True)
            return 2
        if rate > 0:
            ahead = n / (rate * 1024 * 1024) - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(min(ahead, 0.05))
                continue
        b = os.urandom(min(CHUNK, total - n))
        s.settimeout(left)
        try:
            s.sendall(b)
        except OSError as e:
            print(f"error {e} bytes={n}", flush=True)
            return 1
        h.update(b)
        n += len(b)
    s.shutdown(socket.SHUT_WR)
    # Wait for the receiver to close: then every byte has been read on the other end.
    s.settimeout(max(0.1, end - time.monotonic()))
    try:
        while s.recv(CHUNK):
            pass
    except OSError:
        print(f"timeout bytes={n} (no close from the receiver)", flush=True)
        return 2
    print(f"bytes={n} sha256={h.hexdigest()} secs={time.monotonic() - t0:.2f}", flush=True)
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "recv":
        return recv(a[1], int(a[2]), a[3], float(a[4]))
    if len(a) == 7 and a[0] == "send":
        return send(a[1], int(a[2]), float(a[3]), float(a[4]), a[5], float(a[6]))
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
