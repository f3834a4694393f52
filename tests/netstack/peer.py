#!/usr/bin/env python3
"""Kernel-side peer for the netstack tests: the Linux TCP/UDP stack talks to
spokewire's netstack (spokewire netstack-harness) across a TUN device.

Streams are the harness's deterministic pattern (1 MiB of SHA-256 counter
output, each 1 MiB block stamped with its index), and every byte sent or
received is hashed, so the two sides' SHA-256 lines can be compared.

Commands print KEY=VALUE lines: TX_BYTES, TX_SHA256, RX_BYTES, RX_SHA256,
plus SS= (ss -tni of the connection), REFUSED=1, OK=1 and so on."""
import argparse
import hashlib
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time

PATTERN_LEN = 1 << 20
PATTERN = b"".join(
    hashlib.sha256(b"spokewire" + i.to_bytes(4, "big")).digest()
    for i in range(PATTERN_LEN // 32))


def block(index):
    b = bytearray(PATTERN)
    b[0:8] = index.to_bytes(8, "little")
    return b


def stream_chunks(total):
    off = 0
    while off < total:
        b = block(off // PATTERN_LEN)
        n = min(PATTERN_LEN, total - off)
        yield memoryview(b)[:n]
        off += n


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def out(**kv):
    for k, v in kv.items():
        print(f"{k.upper()}={v}", flush=True)


def ss_line(host, port):
    r = subprocess.run(["ss", "-tni", "dst", f"{host}" if ":" not in host
                        else f"[{host}]"], capture_output=True, text=True)
    return " ".join(r.stdout.split())


def send_stream(sock, total, h, ss_at=None, host=None, port=None,
                seconds=0.0):
    sent = 0
    ss = None
    end = time.time() + seconds if seconds else None
    for chunk in stream_chunks(total if not seconds else 1 << 60):
        if end and time.time() >= end:
            break
        sock.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
        if ss_at is not None and ss is None and sent >= ss_at:
            ss = ss_line(host, port)
    return sent, ss


def read_all(sock, h, pause_after=0, pause_s=0.0, seconds=0.0, burst=0,
             burst_gap_s=0.0):
    """Reads to EOF; with burst, at most that many bytes at a time, then
    sleeps burst_gap_s (a slow application)."""
    n = 0
    paused = False
    end = time.time() + seconds if seconds else None
    while not end or time.time() < end:
        d = sock.recv(burst or (1 << 20))
        if not d:
            return n
        h.update(d)
        n += len(d)
        if pause_after and not paused and n >= pause_after:
            paused = True
            time.sleep(pause_s)
        if burst_gap_s:
            time.sleep(burst_gap_s)
    return n


def connect(host, port, rcvbuf=0, timeout=30, cc=None):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    if cc:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, port))
    s.settimeout(None)
    return s


def cmd_send(a):
    """Send BYTES, half-close, then read what comes back until EOF."""
    s = connect(a.host, a.port, cc=a.cc)
    tx, rx = hashlib.sha256(), hashlib.sha256()
    res = {}

    def reader():
        res["rx"] = read_all(s, rx)

    t = threading.Thread(target=reader)
    t.start()
    sent, ss = send_stream(s, a.bytes, tx, ss_at=min(a.bytes, 4 << 20),
                           host=a.host, port=a.port, seconds=a.seconds)
    s.shutdown(socket.SHUT_WR)
    t.join()
    s.close()
    out(tx_bytes=sent, tx_sha256=tx.hexdigest(), rx_bytes=res["rx"],
        rx_sha256=rx.hexdigest(), ss=ss or "")


def cmd_recv(a):
    """Read until EOF (optionally pausing), then optionally send and close."""
    s = connect(a.host, a.port, rcvbuf=a.rcvbuf)
    rx = hashlib.sha256()
    t0 = time.time()
    n = read_all(s, rx, a.pause_after, a.pause_s, a.seconds, a.burst,
                 a.burst_gap_ms / 1000.0)
    dt = time.time() - t0
    out(rx_bytes=n, rx_sha256=rx.hexdigest(), ms=int(dt * 1000),
        mbps=f"{n * 8 / dt / 1e6:.1f}")
    if a.send_after_eof:
        tx = hashlib.sha256()
        sent, _ = send_stream(s, a.send_after_eof, tx)
        out(tx_bytes=sent, tx_sha256=tx.hexdigest())
    s.close()


def cmd_echo(a):
    """Send BYTES to an echo port, half-close, expect the same back."""
    cmd_send(a)


def cmd_refused(a):
    t0 = time.time()
    try:
        connect(a.host, a.port, timeout=5)
        out(refused=0)
    except ConnectionRefusedError:
        out(refused=1, ms=int((time.time() - t0) * 1000))
    except OSError as e:
        out(refused=0, error=e)


def cmd_udp(a):
    s = socket.socket(family_of(a.host), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((a.host, a.port))
    msg = b"spokewire-udp-" + str(time.time()).encode()
    try:
        s.send(msg)
        d = s.recv(65536)
        out(udp_echo=int(d == msg))
    except ConnectionRefusedError:
        out(refused=1)
    except socket.timeout:
        out(timeout=1)


def cmd_many(a):
    """N simultaneous connections to an echo port, all open at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (max(soft, min(hard, a.n + 100)), hard))
    sel = selectors.DefaultSelector()
    socks = []
    t0 = time.time()
    for i in range(a.n):
        s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, i)
    connected = 0
    want = {}
    got = {}
    done = 0
    t_conn = None
    deadline = time.time() + a.timeout
    while done < a.n and time.time() < deadline:
        for key, ev in sel.select(timeout=1):
            s, i = key.fileobj, key.data
            if i not in want:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    out(error=f"conn {i}: {os.strerror(err)}")
                    return
                msg = f"hello {i} ".encode() * 8
                want[i] = msg
                got[i] = b""
                s.send(msg)
                sel.modify(s, selectors.EVENT_READ, i)
                connected += 1
                if connected == a.n:
                    t_conn = time.time() - t0
                continue
            d = s.recv(4096)
            got[i] += d
            if len(got[i]) >= len(want[i]) or not d:
                sel.unregister(s)
                done += 1
    ok = sum(1 for i in want if got[i] == want[i])
    # All of them are still open here: count them on the kernel side.
    est = subprocess.run(["ss", "-tnH", "state", "established", "dst",
                          a.host], capture_output=True, text=True)
    open_now = len([ln for ln in est.stdout.splitlines() if ln.strip()])
    for s in socks:
        s.close()
    out(connected=connected, echoed_ok=ok, open_at_once=open_now,
        connect_s=f"{t_conn or -1:.2f}", total_s=f"{time.time() - t0:.2f}")


def cmd_serve(a):
    """Accept COUNT connections; for each send BYTES and read until EOF."""
    fam = socket.AF_INET6 if a.v6 else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::" if a.v6 else "0.0.0.0", a.port))
    ls.listen(128)
    print("LISTENING=1", flush=True)
    for _ in range(a.count):
        s, peer = ls.accept()
        tx, rx = hashlib.sha256(), hashlib.sha256()
        res = {}

        def reader():
            res["rx"] = read_all(s, rx)

        t = threading.Thread(target=reader)
        t.start()
        sent, _ = send_stream(s, a.bytes, tx)
        s.shutdown(socket.SHUT_WR)
        t.join()
        s.close()
        out(tx_bytes=sent, tx_sha256=tx.hexdigest(), rx_bytes=res["rx"],
            rx_sha256=rx.hexdigest())


def cmd_sinkserve(a):
    """Accept one connection, read it to EOF, report the rate."""
    fam = socket.AF_INET6 if a.v6 else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::" if a.v6 else "0.0.0.0", a.port))
    ls.listen(8)
    print("LISTENING=1", flush=True)
    s, _ = ls.accept()
    t0 = time.time()
    n = 0
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        n += len(d)
    dt = time.time() - t0
    out(rx_bytes=n, ms=int(dt * 1000), mbps=f"{n * 8 / dt / 1e6:.1f}")


def cmd_hold(a):
    """Open N connections to an echo port, one echo each, and hold them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (max(soft, min(hard, a.n + 100)), hard))
    socks = []
    t0 = time.time()
    for _ in range(a.n):
        s = connect(a.host, a.port)
        s.send(b"x" * 100)
        socks.append(s)
    for s in socks:
        d = b""
        while len(d) < 100:
            d += s.recv(100)
    out(held=a.n, open_s=f"{time.time() - t0:.2f}")
    time.sleep(a.seconds)
    for s in socks:
        s.close()


def cmd_churn(a):
    """Connect, echo 100 bytes, close, for SECONDS: connections/s."""
    n = 0
    t0 = time.time()
    while time.time() - t0 < a.seconds:
        s = connect(a.host, a.port)
        s.sendall(b"y" * 100)
        s.shutdown(socket.SHUT_WR)
        d = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            d += b
        s.close()
        if d != b"y" * 100:
            out(error="bad echo")
            return
        n += 1
    dt = time.time() - t0
    out(conns=n, per_s=f"{n / dt:.0f}")


def cmd_sha(a):
    """The SHA-256 of the first BYTES of the stream."""
    h = hashlib.sha256()
    for c in stream_chunks(a.bytes):
        h.update(c)
    out(sha256=h.hexdigest())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("send", "echo"):
        q = sub.add_parser(name)
        q.add_argument("host")
        q.add_argument("port", type=int)
        q.add_argument("bytes", type=int)
        q.add_argument("--seconds", type=float, default=0)
        q.add_argument("--cc", default=None)
    q = sub.add_parser("recv")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("--pause-after", type=int, default=0)
    q.add_argument("--pause-s", type=float, default=0)
    q.add_argument("--rcvbuf", type=int, default=0)
    q.add_argument("--burst", type=int, default=0)
    q.add_argument("--burst-gap-ms", type=float, default=0)
    q.add_argument("--send-after-eof", type=int, default=0)
    q.add_argument("--seconds", type=float, default=0)
    for name in ("refused", "udp"):
        q = sub.add_parser(name)
        q.add_argument("host")
        q.add_argument("port", type=int)
    q = sub.add_parser("many")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("n", type=int)
    q.add_argument("--timeout", type=float, default=60)
    q = sub.add_parser("serve")
    q.add_argument("port", type=int)
    q.add_argument("bytes", type=int)
    q.add_argument("--count", type=int, default=1)
    q.add_argument("--v6", action="store_true")
    q = sub.add_parser("sinkserve")
    q.add_argument("port", type=int)
    q.add_argument("--v6", action="store_true")
    q = sub.add_parser("hold")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("n", type=int)
    q.add_argument("--seconds", type=float, default=3)
    q = sub.add_parser("churn")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("--seconds", type=float, default=5)
    q = sub.add_parser("sha")
    q.add_argument("bytes", type=int)
    a = p.parse_args()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
