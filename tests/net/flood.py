#!/usr/bin/env python3
"""Handshake-initiation flood for the cookie (DoS mitigation) test.

Sends WireGuard handshake initiation messages (type 1, 148 bytes) with
random contents but a valid mac1 for the responder's public key, as fast as
one UDP socket allows (or at --rate), for --duration seconds, to one
address. Counts the cookie replies (type 3, 64 bytes) whose receiver index
is one of the sender indices it used.

  msg = u32le type=1 | u32 sender | 32 ephemeral | 48 static | 28 timestamp
        | 16 mac1 | 16 mac2 (zero: we never have a cookie)
  mac1 = BLAKE2s(key=BLAKE2s-256(b"mac1----" + responder_public), 16 bytes)
         over the first 116 bytes

Python standard library only. Prints one summary line:
  flood: sent=N secs=S rate=R replies=M cookies=C matched=K other=O
and exits 0 (the caller decides what counts as a pass).
Only ever point it at a test namespace's own addresses.
"""
import argparse
import base64
import hashlib
import os
import select
import socket
import time

MSG_INITIATION = 1
MSG_COOKIE = 3


def build_pool(pubkey, n):
    key = hashlib.blake2s(b"mac1----" + pubkey).digest()
    pool, senders = [], set()
    while len(pool) < n:
        sender = os.urandom(4)
        if sender in senders:
            continue
        senders.add(sender)
        body = MSG_INITIATION.to_bytes(4, "little") + sender + os.urandom(32 + 48 + 28)
        assert len(body) == 116
        mac1 = hashlib.blake2s(body, key=key, digest_size=16).digest()
        pool.append(body + mac1 + bytes(16))
    return pool, senders


class Counter:
    def __init__(self, senders):
        self.senders = senders
        self.replies = self.cookies = self.matched = self.other = 0

    def add(self, data):
        self.replies += 1
        if len(data) == 64 and data[0] == MSG_COOKIE and data[1:4] == b"\0\0\0":
            self.cookies += 1
            if data[4:8] in self.senders:
                self.matched += 1
        else:
            self.other += 1


def drain(sock, counter):
    while True:
        try:
            counter.add(sock.recv(2048))
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionRefusedError:  # a queued ICMP error; keep reading
            continue


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dst", required=True, help="responder address")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pubkey", required=True, help="responder public key, base64")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds to flood (max 30)")
    ap.add_argument("--rate", type=float, default=0, help="packets/s, 0 = as fast as possible")
    ap.add_argument("--ramp", action="store_true",
                    help="start at --rate (default 5000/s), grow x1.5 every 0.3 s until the "
                         "first cookie reply, then hold 1.5x that rate: just enough to keep "
                         "the responder under load without overflowing its socket")
    ap.add_argument("--count", type=int, default=0, help="stop after this many, 0 = no limit")
    ap.add_argument("--pool", type=int, default=8192, help="distinct initiations to cycle")
    ap.add_argument("--linger", type=float, default=0.5, help="seconds to wait for late replies")
    a = ap.parse_args()

    pubkey = base64.b64decode(a.pubkey)
    if len(pubkey) != 32:
        ap.error("public key must be 32 bytes")
    duration = min(a.duration, 30.0)
    pool, senders = build_pool(pubkey, a.pool)
    fam = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect((a.dst, a.port))
    sock.setblocking(False)
    counter = Counter(senders)

    sent, i, n = 0, 0, len(pool)
    rate = a.rate if a.rate or not a.ramp else 5000.0
    ramping, load_rate = a.ramp, 0
    batch = 64 if rate == 0 else max(1, min(64, int(rate / 100)))
    start = time.monotonic()
    end = start + duration
    now = start
    # pacing: `sent` is measured against a rate that may change, so keep
    # the schedule as (time, packets) of the last rate change
    sched_t, sched_n, last_step = start, 0, start
    while now < end and (a.count == 0 or sent < a.count):
        if ramping:
            if counter.cookies:
                ramping, load_rate = False, rate
                rate *= 1.5
                sched_t, sched_n = now, sent
            elif now - last_step >= 0.3:
                rate *= 1.5
                last_step = sched_t = now
                sched_n = sent
            batch = max(1, min(64, int(rate / 100)))
        for _ in range(batch):
            try:
                sock.send(pool[i])
            except (BlockingIOError, InterruptedError):
                select.select([], [sock], [], 0.01)
                break
            except ConnectionRefusedError:
                break  # ICMP port unreachable from an earlier datagram
            except OSError:  # ENOBUFS and friends: back off a little
                time.sleep(0.001)
                break
            sent += 1
            i = (i + 1) % n
            if a.count and sent >= a.count:
                break
        drain(sock, counter)
        now = time.monotonic()
        if rate:
            ahead = (sent - sched_n) / rate - (now - sched_t)
            if ahead > 0:
                time.sleep(min(ahead, end - now) if end > now else 0)
                now = time.monotonic()
    secs = now - start
    linger_end = time.monotonic() + a.linger
    while True:
        left = linger_end - time.monotonic()
        if left <= 0:
            break
        if select.select([sock], [], [], left)[0]:
            drain(sock, counter)
    print("flood: sent=%d secs=%.2f rate=%d replies=%d cookies=%d matched=%d other=%d"
          " load_rate=%d" % (
              sent, secs, sent / secs if secs > 0 else 0, counter.replies, counter.cookies,
              counter.matched, counter.other, load_rate), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
