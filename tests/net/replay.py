#!/usr/bin/env python3
"""Capture one WireGuard transport-data packet and resend it from elsewhere.

Run inside the sending peer's namespace: sniffs IFACE (AF_PACKET) for an
IPv4 UDP datagram to DST_PORT whose payload is a WireGuard data message
(type 4), then sends that exact payload again, plus a few garbage datagrams
and a forged data message with a random receiver index, from a socket bound
to SRC_ADDR. A correct receiver must not move its endpoint for the peer to
SRC_ADDR: the replay fails the counter check, the rest fail authentication.

A copy with its last byte flipped (a valid index, a bad tag) must fail
authentication too.

Usage: replay.py IFACE DST_ADDR DST_PORT SRC_ADDR [TIMEOUT]
REPLAY_TYPE=1 captures a handshake initiation instead (replayed, it must be
refused as stale); REPLAY_DELAY=S waits S seconds before resending.
Prints "replayed N bytes" on success; exit 1 if nothing was captured.
"""
import os
import socket
import struct
import sys
import time


MSG_TYPE = int(os.environ.get("REPLAY_TYPE", "4"))


def capture(iface, dport, timeout):
    # ETH_P_ALL: protocol-specific packet sockets do not see outgoing frames
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    s.settimeout(0.2)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] != socket.PACKET_OUTGOING or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
            continue
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        if len(udp) < 8 + 32:
            continue
        (_, dst, length) = struct.unpack("!HHH", udp[:6])
        payload = udp[8:length]
        if dst == dport and payload[0] == MSG_TYPE and payload[1:4] == b"\0\0\0":
            return payload
    return None


def main():
    iface, daddr, dport, saddr = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
    pkt = capture(iface, dport, timeout)
    if pkt is None:
        print("nothing captured")
        return 1
    time.sleep(float(os.environ.get("REPLAY_DELAY", "0")))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((saddr, 0))
    for _ in range(3):
        s.sendto(pkt, (daddr, dport))
    if MSG_TYPE == 4:
        tampered = bytearray(pkt)
        tampered[-1] ^= 1
        s.sendto(bytes(tampered), (daddr, dport))
    forged = bytearray(pkt)
    forged[4:8] = os.urandom(4)  # unknown receiver index
    s.sendto(bytes(forged), (daddr, dport))
    for n in (1, 4, 32, 148, 92, 64, 200):
        s.sendto(os.urandom(n), (daddr, dport))
    print("replayed %d bytes" % len(pkt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
