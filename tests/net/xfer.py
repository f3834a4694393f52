#!/usr/bin/env python3
"""TCP and UDP transfer helper for the offload tests.
  xfer.py serve-tcp ADDR PORT N        accept N connections; print "len sha256" per connection
  xfer.py send-tcp ADDR PORT SIZE SEED send SIZE deterministic bytes; print "len sha256"
  xfer.py send-file ADDR PORT FILE     send FILE, half-close, wait for the peer's close
  xfer.py serve-udp ADDR PORT SECONDS  print "count reordered" of datagrams numbered by send-udp
  xfer.py send-udp ADDR PORT COUNT SIZE[,SIZE...]  numbered datagrams, sizes in turn
  xfer.py serve-udp-check ADDR PORT COUNT  receive up to COUNT datagrams from send-udp-sizes (3 s
                                       idle ends it); print "good damaged" (contents checked)
  xfer.py send-udp-sizes ADDR PORT ROUNDS SIZE...  ROUNDS bursts, one datagram of each SIZE
"""
import hashlib, random, socket, struct, sys, time

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def data(size, seed):
    r = random.Random(seed)
    return r.randbytes(size)

cmd = sys.argv[1]
if cmd == "serve-tcp":
    addr, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    print("ready", flush=True)
    for _ in range(n):
        c, _ = s.accept()
        h, total = hashlib.sha256(), 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            h.update(b)
            total += len(b)
        c.close()
        print(total, h.hexdigest(), flush=True)
elif cmd == "send-tcp":
    addr, port, size, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    payload = data(size, seed)
    c = socket.create_connection((addr, port), timeout=20)
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    c.close()
    print(len(payload), hashlib.sha256(payload).hexdigest())
elif cmd == "send-file":
    addr, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    c = socket.create_connection((addr, port), timeout=20)
    c.settimeout(None)
    with open(path, "rb") as f:
        c.sendfile(f)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    c.close()
elif cmd == "serve-udp":
    addr, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, port))
    s.settimeout(0.5)
    print("ready", flush=True)
    end, count, reordered, last = time.time() + secs, 0, 0, -1
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        (seq,) = struct.unpack("!I", b[:4])
        if seq < last:
            reordered += 1
        last = max(last, seq)
        count += 1
    print(count, reordered)
elif cmd == "send-udp":
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sizes = [int(x) for x in sys.argv[5].split(",")]
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    pads = [b"\0" * (size - 4) for size in sizes]
    for i in range(count):
        s.sendto(struct.pack("!I", i) + pads[i % len(pads)], (addr, port))
        if i % 64 == 63:
            time.sleep(0.0005)
elif cmd == "serve-udp-check":
    addr, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, port))
    s.settimeout(3)
    print("ready", flush=True)
    good = damaged = 0
    while good + damaged < n:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        ok = len(b) >= 8
        if ok:
            seq, size = struct.unpack("!II", b[:8])
            ok = size == len(b) and b[8:] == data(size - 8, seq)
        good += ok
        damaged += not ok
    print(good, damaged, flush=True)
elif cmd == "send-udp-sizes":
    addr, port, rounds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sizes = [int(x) for x in sys.argv[5:]]
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    seq = 0
    for _ in range(rounds):
        for size in sizes:
            s.sendto(struct.pack("!II", seq, size) + data(size - 8, seq), (addr, port))
            seq += 1
        time.sleep(0.002)
