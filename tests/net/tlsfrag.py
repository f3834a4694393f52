#!/usr/bin/python3
"""A TLS client whose ClientHello is cut into records of FRAG bytes (as a
~2 KB post-quantum hello arrives in pieces), then an HTTP/1.1 request.
Prints the status line; the server's certificate (DER) goes to CERT.
usage: tlsfrag.py ADDR PORT SNI FRAG [CERT]"""
import socket
import ssl
import struct
import sys

addr, port, sni, frag = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, outg, server_hostname=sni)
s = socket.create_connection((addr, port), timeout=5)


def pump_out(refragment=False):
    data = outg.read()
    if not data:
        return
    if refragment:
        # One record holding the ClientHello: re-cut its payload.
        assert data[0] == 22
        body = data[5:]
        recs = b""
        for i in range(0, len(body), frag):
            piece = body[i:i + frag]
            recs += bytes([22]) + data[1:3] + struct.pack(">H", len(piece)) + piece
        data = recs
    s.sendall(data)


first = True
while True:
    try:
        obj.do_handshake()
        pump_out()
        break
    except ssl.SSLWantReadError:
        pump_out(refragment=first)
        first = False
        d = s.recv(65536)
        if not d:
            print("closed during the handshake")
            sys.exit(1)
        inc.write(d)
cert = obj.getpeercert(binary_form=True)
obj.write(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % sni).encode())
pump_out()
resp = b""
while True:
    try:
        d = obj.read(65536)
        if not d:
            break  # close_notify
        resp += d
    except ssl.SSLWantReadError:
        d = s.recv(65536)
        if not d:
            break
        inc.write(d)
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        break
open(sys.argv[5] if len(sys.argv) > 5 else "/dev/null", "wb").write(cert)
print(resp.split(b"\r\n", 1)[0].decode("latin-1"))
