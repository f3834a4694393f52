#!/usr/bin/python3
"""UDP echo for the gateway tests.
  udpecho.py serve ADDR PORT           answers each datagram with
                                       "SOURCE-ADDRESS DATA"
  udpecho.py send ADDR PORT MSG [N]    sends MSG N times (default 1) from
                                       one socket, prints each answer"""
import socket
import sys

if sys.argv[1] == "serve":
    fam = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(a[0].encode() + b" " + d, a)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    for _ in range(int(sys.argv[5]) if len(sys.argv) > 5 else 1):
        s.sendto(sys.argv[4].encode(), (sys.argv[2], int(sys.argv[3])))
        print(s.recvfrom(65536)[0].decode())
