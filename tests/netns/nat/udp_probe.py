#!/usr/bin/env python3
"""UDP probes that show a NAT's mapping and filtering, without vpnpeer (tests/netns/nat).

  udp_probe.py server A1 A2 PORT ALTPORT     on the public host: 4 sockets (A1/A2 x PORT/ALTPORT)
  udp_probe.py client A1 A2 PORT ALTPORT     behind the NAT: prints one line of facts
  udp_probe.py punch A1 PORT MINE THEIRS SECS  naive hole punch between two hosts: prints punched=0|1

The server answers a request "<nonce> <reply-from>" with "<nonce> <ip>:<port>", the source it
saw (the client's mapping), sent from the socket named by reply-from ("a1p", "a1alt", "a2alt"...).
The client runs three probes, each from a fresh local port, in an order that keeps one probe's
traffic from opening the NAT for the next (a restricted cone remembers every address contacted):
  other_addr: ask A1:PORT to answer from A2:ALTPORT    -> received only through a full cone
  other_port: ask A1:PORT to answer from A1:ALTPORT    -> full and restricted cone
  mapping:    A1:PORT, A1:ALTPORT, A2:PORT             -> same mapped port (cone) or not (symmetric)
Each wait is bounded (3 tries of 0.4 s per request).
"""
import os
import select
import socket
import sys

TRIES = 3
WAIT = 0.4


def server(a1, a2, port, alt):
    socks = {}
    for name, addr in (("a1p", (a1, port)), ("a1alt", (a1, alt)),
                       ("a2p", (a2, port)), ("a2alt", (a2, alt))):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(addr)
        socks[name] = s
    by_fd = {s.fileno(): s for s in socks.values()}
    print("ready", flush=True)
    while True:  # runs until killed by the test's cleanup (a tracked pid)
        ready, _, _ = select.select(list(by_fd), [], [])
        for fd in ready:
            data, src = by_fd[fd].recvfrom(2048)
            parts = data.decode(errors="replace").split()
            if len(parts) != 2 or parts[1] not in socks:
                continue
            socks[parts[1]].sendto(f"{parts[0]} {src[0]}:{src[1]}".encode(), src)


def ask(sock, dest, reply_from):
    """Send a request to dest asking for an answer from reply_from; the mapping or None."""
    nonce = os.urandom(6).hex()
    for _ in range(TRIES):
        sock.sendto(f"{nonce} {reply_from}".encode(), dest)
        r, _, _ = select.select([sock], [], [], WAIT)
        while r:
            data, _ = sock.recvfrom(2048)
            parts = data.decode(errors="replace").split()
            if len(parts) == 2 and parts[0] == nonce:
                return parts[1]
            r, _, _ = select.select([sock], [], [], 0)
    return None


def fresh():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    return s


def client(a1, a2, port, alt):
    other_addr = ask(fresh(), (a1, port), "a2alt") is not None
    other_port = ask(fresh(), (a1, port), "a1alt") is not None
    s = fresh()
    local_port = s.getsockname()[1]
    maps = [ask(s, (a1, port), "a1p"), ask(s, (a1, alt), "a1alt"), ask(s, (a2, port), "a2p")]
    if maps[0] is None:
        print("reachable=0")
        return
    ip = maps[0].split(":")[0]
    ports = {m.split(":")[1] for m in maps if m}
    print(f"reachable=1 mapped_ip={ip} same_mapping={int(len(ports) == 1 and None not in maps)} "
          f"port_kept={int(maps[0].split(':')[1] == str(local_port))} "
          f"other_addr={int(other_addr)} other_port={int(other_port)} maps={','.join(map(str, maps))}")


def punch(a1, port, mine, theirs, secs):
    """The simplest punching there is: learn our mapping from the server (A1:PORT), publish it in
    the file MINE, read the other side's from THEIRS, then send "hello" to it every 0.1 s; answer
    any "hello" with "ack" to its source and aim there from then on (a peer-reflexive address).
    Punched when we got an ack and the other side's hello. This is the reference for which pairs
    of NATs the lab lets through at all."""
    import time
    s = fresh()
    mapped = ask(s, (a1, port), "a1p")
    if mapped is None:
        print("punched=0 reason=no-mapping")
        return
    with open(mine + ".tmp", "w") as f:
        f.write(mapped)
    os.rename(mine + ".tmp", mine)
    deadline = time.monotonic() + secs
    while not os.path.exists(theirs):
        if time.monotonic() > deadline:
            print("punched=0 reason=no-peer-mapping")
            return
        time.sleep(0.05)
    ip, p = open(theirs).read().split(":")
    target = (ip, int(p))
    got_hello = got_ack = False
    done_at = None
    while time.monotonic() < deadline and (done_at is None or time.monotonic() < done_at):
        s.sendto(b"hello", target)
        r, _, _ = select.select([s], [], [], 0.1)
        while r:
            data, src = s.recvfrom(2048)
            if data == b"hello":
                got_hello, target = True, src
                s.sendto(b"ack", src)
            elif data == b"ack":
                got_ack = True
            r, _, _ = select.select([s], [], [], 0)
        if got_hello and got_ack and done_at is None:
            done_at = time.monotonic() + 1.0  # keep answering so the other side finishes too
    print(f"punched={int(got_hello and got_ack)} mapped={mapped} peer={target[0]}:{target[1]}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "punch" and len(sys.argv) == 7:
        punch(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6]))
        sys.exit(0)
    if len(sys.argv) != 6 or sys.argv[1] not in ("server", "client"):
        sys.exit(__doc__)
    fn = server if sys.argv[1] == "server" else client
    fn(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
