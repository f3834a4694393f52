#!/usr/bin/python3
"""A small HTTP/1.1 backend for the gateway tests (keep-alive, threads).

  GET  / or /whoami  NAME (the --name given)
  GET  /arm          answers, then closes the connection unanswered at
                     the next request on it
  GET  /headers      the request's headers as JSON
  GET  /sse          server-sent events: "first", 1.5 s, "second", then
                     the end of the response (no length: it ends at close)
  GET  /slow         answers after 5 s
  POST /sha          {"sha256", "bytes"} of the body (Content-Length or
                     chunked)
usage: httpd.py ADDR PORT NAME
"""
import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import socket


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="text/plain"):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        if getattr(self, "drop_next", False):
            # As a server whose keep-alive timer fired just as the next
            # request came: the connection closes, unanswered.
            self.close_connection = True
            return
        if self.path == "/arm":
            self.drop_next = True
            self.reply(200, "armed\n")
        elif self.path in ("/", "/whoami"):
            self.reply(200, NAME + "\n")
        elif self.path == "/headers":
            self.reply(200, json.dumps({k.lower(): v for k, v in self.headers.items()}),
                       "application/json")
        elif self.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            time.sleep(1.5)
            self.wfile.write(b"data: second\n\n")
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/slow":
            time.sleep(5)
            self.reply(200, "late\n")
        else:
            self.reply(404, "no\n")

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "12345")
        self.end_headers()

    def do_POST(self):
        h, n = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                left = size
                while left:
                    d = self.rfile.read(min(left, 1 << 20))
                    h.update(d)
                    left -= len(d)
                    n += len(d)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                d = self.rfile.read(min(left, 1 << 20))
                if not d:
                    break
                h.update(d)
                left -= len(d)
                n += len(d)
        self.reply(200, json.dumps({"sha256": h.hexdigest(), "bytes": n}),
                   "application/json")


class S(ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET


NAME = sys.argv[3]
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
