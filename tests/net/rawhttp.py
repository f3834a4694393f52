#!/usr/bin/python3
"""Sends raw HTTP requests on one connection and prints what comes back.

  rawhttp.py ADDR PORT REQUEST...   each REQUEST with \\r\\n written as \\n;
                                    all are sent at once (pipelined) unless
                                    --one-by-one, then each after the
                                    previous answer's last byte
Reads until the server closes or 3 s of silence.
"""
import socket
import sys

args = sys.argv[1:]
one = "--one-by-one" in args
args = [a for a in args if a != "--one-by-one"]
addr, port, reqs = args[0], int(args[1]), args[2:]
s = socket.create_connection((addr, port), timeout=3)
reqs = [r.replace("\\n", "\n").replace("\n", "\r\n").encode() for r in reqs]
out = b""


def drain(until_count=None):
    global out
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return
            out += d
            if until_count and out.count(b"HTTP/1.1 ") >= until_count and out.endswith(b"\n"):
                return
    except socket.timeout:
        return


if one:
    for i, r in enumerate(reqs):
        s.sendall(r)
        drain(i + 1)
else:
    s.sendall(b"".join(reqs))
drain()
sys.stdout.write(out.decode("latin-1"))
