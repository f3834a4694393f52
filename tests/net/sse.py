#!/usr/bin/python3
"""Times server-sent events through a proxy: prints the seconds at which
the first event arrived and at which the response ended.
usage: sse.py ADDR PORT HOST PATH"""
import socket
import sys
import time

addr, port, host, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t0 = time.monotonic()
s = socket.create_connection((addr, port), timeout=10)
s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n"
           % (path, host)).encode())
buf, first = b"", None
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
    if first is None and b"data: first" in buf:
        first = time.monotonic() - t0
    if b"data: second" in buf and (b"\r\n0\r\n\r\n" in buf or b"0\r\n\r\n" in buf.split(b"data: second", 1)[1]):
        break
end = time.monotonic() - t0
print("%.3f %.3f" % (first if first is not None else -1, end))
