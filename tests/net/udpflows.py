#!/usr/bin/env python3
"""UDP exchanges for the egress tests (standard library only).

  udpflows.py serve ADDR PORT
      Answers each datagram with "HOST PORT|" + the datagram, HOST PORT being
      the address it came from (so clients see which host socket an exit
      used). Prints "ready" once bound.
  udpflows.py query ADDR PORT COUNT
      COUNT DNS-like exchanges, each from a socket of its own: a query, one
      answer that must come from ADDR:PORT and carry the query. Prints
      "ok COUNT" or the first problem; exit 0 only if all were answered.
  udpflows.py flows ADDR PORT COUNT BATCH
      COUNT flows opened BATCH at a time (send all, then read all), then one
      more exchange on the first and on the last flow. Prints
      "answered N first_same F last_same L open_max M": whether the exit
      used the same host socket (source port) for the second exchange.
  udpflows.py refused ADDR PORT
      One query from a connected socket: prints the error it gets
      ("ECONNREFUSED", "EHOSTUNREACH", ...) or "answered" / "timeout", and
      the milliseconds it took.
"""
import errno
import resource
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(("%s %d|" % (peer[0], peer[1])).encode() + data, peer)


def exchange(s, dst, payload, timeout=3.0):
    """Sends payload, returns (source port the server saw, ok)."""
    s.settimeout(timeout)
    s.sendto(payload, dst)
    data, src = s.recvfrom(65535)
    if (src[0], src[1]) != dst:
        raise ValueError("answer from %s, not %s" % (src, dst))
    head, _, body = data.partition(b"|")
    if body != payload:
        raise ValueError("answer %r to %r" % (data[:60], payload[:60]))
    return int(head.split()[1])


def query(addr, port, count):
    dst = (addr, port)
    for i in range(count):
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        try:
            exchange(s, dst, b"query %d " % i + bytes(range(256)) * 2)
        except Exception as e:  # noqa: BLE001 - report any failure
            print("query %d: %s" % (i, e))
            return 1
        finally:
            s.close()
    print("ok %d" % count)
    return 0


def flows(addr, port, count, batch):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    dst = (addr, port)
    socks, ports, answered = [], [], 0
    for start in range(0, count, batch):
        group = []
        for i in range(start, min(start + batch, count)):
            s = socket.socket(family(addr), socket.SOCK_DGRAM)
            s.sendto(b"flow %d" % i, dst)
            group.append((i, s))
        for i, s in group:
            s.settimeout(3.0)
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                ports.append(None)
                socks.append(s)
                continue
            head, _, body = data.partition(b"|")
            if src[:2] == dst and body == b"flow %d" % i:
                answered += 1
                ports.append(int(head.split()[1]))
            else:
                ports.append(None)
            socks.append(s)
    first = exchange(socks[0], dst, b"again first")
    last = exchange(socks[-1], dst, b"again last")
    print("answered %d first_same %d last_same %d" %
          (answered, first == ports[0], last == ports[-1]))
    for s in socks:
        s.close()
    return 0


def refused(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.connect((addr, port))
    s.settimeout(5.0)
    start = time.monotonic()
    try:
        s.send(b"anyone there?")
        s.recv(65535)
        what = "answered"
    except socket.timeout:
        what = "timeout"
    except OSError as e:
        what = errno.errorcode.get(e.errno, str(e.errno))
    print("%s %d" % (what, (time.monotonic() - start) * 1000))
    return 0


def main():
    cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "serve":
        return serve(addr, port)
    if cmd == "query":
        return query(addr, port, int(sys.argv[4]))
    if cmd == "flows":
        return flows(addr, port, int(sys.argv[4]), int(sys.argv[5]))
    if cmd == "refused":
        return refused(addr, port)
    print("unknown command", cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
