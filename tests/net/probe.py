#!/usr/bin/env python3
"""Client probes for the userspace-mode tests, IPv4 and IPv6 alike.
  probe.py connect HOST PORT
      one TCP connect (5 s limit): prints the errno name (ECONNREFUSED,
      EACCES, EHOSTUNREACH, ...) and the milliseconds taken, or "connected",
      the milliseconds, and what a first read (3 s limit) saw: data, eof,
      reset or timeout
  probe.py socks5 PROXY PPORT ATYP HOST PORT SIZE SEED
      SOCKS5 CONNECT with address type ATYP (v4, v6 or name), then sends
      SIZE deterministic bytes (xfer.py's) and half-closes; prints the reply
      "rep=N atyp=N bind=ADDR" and then "len sha256" of what was sent
  probe.py udp HOST PORT MESSAGE
      one datagram, retried up to 10 times: prints the echoed reply
"""
import errno, hashlib, ipaddress, random, socket, sys, time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("short SOCKS reply")
        b += d
    return b


cmd = sys.argv[1]
if cmd == "connect":
    host, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(5)
    start = time.monotonic()
    try:
        s.connect((host, port))
    except socket.timeout:
        print("ETIMEDOUT", int((time.monotonic() - start) * 1000))
        sys.exit(0)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), int((time.monotonic() - start) * 1000))
        sys.exit(0)
    ms = int((time.monotonic() - start) * 1000)
    s.settimeout(3)
    try:
        then = "data" if s.recv(1) else "eof"
    except socket.timeout:
        then = "timeout"
    except ConnectionResetError:
        then = "reset"
    print("connected", ms, then)
elif cmd == "socks5":
    proxy, pport, atyp, host, port = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
    size, seed = int(sys.argv[7]), int(sys.argv[8])
    s = socket.create_connection((proxy, pport), timeout=20)
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        sys.exit("greeting refused")
    if atyp == "v4":
        a = b"\x01" + socket.inet_pton(socket.AF_INET, host)
    elif atyp == "v6":
        a = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
    else:
        a = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + a + port.to_bytes(2, "big"))
    head = recv_exact(s, 4)
    alen = {1: 4, 4: 16}.get(head[3], 0)
    bind = recv_exact(s, alen + 2)
    addr = str(ipaddress.ip_address(bind[:alen])) if alen else "?"
    print("rep=%d atyp=%d bind=%s" % (head[1], head[3], addr), flush=True)
    if head[1] != 0:
        sys.exit(0)
    payload = random.Random(seed).randbytes(size)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print(len(payload), hashlib.sha256(payload).hexdigest())
elif cmd == "udp":
    host, port, msg = sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(1)
    for _ in range(10):
        s.sendto(msg, (host, port))
        try:
            print(s.recvfrom(65536)[0].decode())
            break
        except socket.timeout:
            pass
else:
    sys.exit("unknown command " + cmd)
