#!/usr/bin/env python3
"""UDP relay with delay and loss, for WireGuard tests (no netem here).

    relay.py --listen ADDR:PORT --target ADDR:PORT [--delay-ms D] [--loss P]
             [--reorder P --reorder-ms R] [--blackhole-ms B]
             [--seed N] [--stats FILE] [--mark M]

Datagrams from any client to --listen go to --target from one socket per
client; replies go back to that client. Each direction gets D ms of delay
(so the added RTT is 2*D) and drops each datagram with probability P
(percent). With --reorder, each datagram is held R ms longer with
probability P (percent), so the ones behind it overtake it; otherwise order
is kept. SIGUSR1 starts a blackhole: for B ms (default 2000) every datagram
is dropped, both ways. Prints "READY" once bound; SIGTERM prints counts to
--stats (or stderr). --mark sets SO_MARK on the sockets towards --target,
so a wg-quick client whose default route is its tunnel (fwmark rule) can
run the relay in its own namespace without the relay's datagrams going
into the tunnel.
"""
import argparse
import heapq
import random
import select
import signal
import socket
import sys
import time


def hostport(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--reorder-ms", type=float, default=5.0)
    ap.add_argument("--blackhole-ms", type=float, default=2000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats")
    ap.add_argument("--mark", type=int, default=0)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    lfam, laddr = hostport(a.listen)
    tfam, taddr = hostport(a.target)
    lsock = socket.socket(lfam, socket.SOCK_DGRAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    lsock.bind(laddr)
    lsock.setblocking(False)
    clients = {}   # client addr -> upstream socket
    upstream = {}  # fd -> (socket, client addr)
    queue = []     # (due, seq, sock, data, addr)
    seq = 0
    delay = a.delay_ms / 1000.0
    loss = a.loss / 100.0
    reorder = a.reorder / 100.0
    counts = {"in": 0, "out": 0, "lost": 0, "reordered": 0, "blackholed": 0}
    blackhole_until = [0.0]

    def finish(*_):
        msg = ("relay: in=%(in)d out=%(out)d lost=%(lost)d "
               "reordered=%(reordered)d blackholed=%(blackholed)d\n" % counts)
        if a.stats:
            with open(a.stats, "w") as f:
                f.write(msg)
        else:
            sys.stderr.write(msg)
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)

    def blackhole(*_):
        blackhole_until[0] = time.monotonic() + a.blackhole_ms / 1000.0

    signal.signal(signal.SIGUSR1, blackhole)
    poll = select.epoll()
    poll.register(lsock.fileno(), select.EPOLLIN)
    print("READY", flush=True)

    def forward(sock, data, addr):
        nonlocal seq
        counts["in"] += 1
        if blackhole_until[0] and time.monotonic() < blackhole_until[0]:
            counts["blackholed"] += 1
            return
        if loss and rng.random() < loss:
            counts["lost"] += 1
            return
        extra = 0.0
        if reorder and rng.random() < reorder:
            counts["reordered"] += 1
            extra = a.reorder_ms / 1000.0
        if not delay and not extra:
            try:
                if addr is None:
                    sock.send(data)
                else:
                    sock.sendto(data, addr)
                counts["out"] += 1
            except OSError:
                pass
            return
        seq += 1
        heapq.heappush(queue, (time.monotonic() + delay + extra, seq, sock, data, addr))

    while True:
        timeout = -1
        if queue:
            timeout = max(0.0, queue[0][0] - time.monotonic())
        for fd, _ in poll.poll(timeout):
            for _ in range(256):
                if fd == lsock.fileno():
                    try:
                        data, caddr = lsock.recvfrom(65536)
                    except BlockingIOError:
                        break
                    up = clients.get(caddr)
                    if up is None:
                        up = socket.socket(tfam, socket.SOCK_DGRAM)
                        if a.mark:
                            up.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, a.mark)
                        up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
                        up.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
                        up.setblocking(False)
                        up.connect(taddr)
                        clients[caddr] = up
                        upstream[up.fileno()] = (up, caddr)
                        poll.register(up.fileno(), select.EPOLLIN)
                    forward(up, data, None)
                else:
                    up, caddr = upstream[fd]
                    try:
                        data = up.recv(65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        break
                    forward(lsock, data, caddr)
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, sock, data, addr = heapq.heappop(queue)
            try:
                if addr is None:
                    sock.send(data)
                else:
                    sock.sendto(data, addr)
                counts["out"] += 1
            except OSError:
                pass


if __name__ == "__main__":
    main()
