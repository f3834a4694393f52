#!/usr/bin/env python3
"""Controller benchmark client: joins per second (N nodes, C concurrent
clients), the hub's netmap fetch time with N peers, and the delay from a
spoke's join to a hub's held GET /netmap returning it.

  controller_bench.py --base URL [--base2 URL] --master KEY [--nodes N]
"""
import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse

local = threading.local()


def conn_for(base):
    # One keep-alive connection per thread and controller.
    cache = getattr(local, "conns", None)
    if cache is None:
        cache = local.conns = {}
    if base not in cache:
        u = urllib.parse.urlsplit(base)
        cache[base] = http.client.HTTPConnection(u.hostname, u.port,
                                                 timeout=120)
    return cache[base]


def call(base, method, path, body=None, headers=None):
    h = dict(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(2):
        c = conn_for(base)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        except (ConnectionError, http.client.HTTPException):
            c.close()
            local.conns.pop(base, None)
            if attempt:
                raise


def pubkey():
    return base64.b64encode(os.urandom(32)).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--base2")
    ap.add_argument("--master", required=True)
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    bases = [a.base] + ([a.base2] if a.base2 else [])
    auth = {"Authorization": "Bearer " + a.master}

    st, body = call(a.base, "POST", "/tokens", {"role": "hub"}, auth)
    htok = json.loads(body)["token"]
    st, body = call(a.base, "POST", "/join",
                    {"node_id": "hub", "public_key": pubkey(),
                     "role": "hub"}, {"X-Join-Token": htok})
    hub_token = json.loads(body)["node_token"]
    hub_auth = {"Authorization": "Bearer " + hub_token}
    st, body = call(a.base, "POST", "/tokens",
                    {"uses": a.nodes + 100, "expires_in": 3600}, auth)
    tok = json.loads(body)["token"]
    jh = {"X-Join-Token": tok}

    def one(i):
        st, _ = call(bases[i % len(bases)], "POST", "/join",
                     {"node_id": f"n{i}", "public_key": pubkey()}, jh)
        return st

    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.clients) as ex:
        codes = list(ex.map(one, range(a.nodes)))
    dt = time.monotonic() - t
    bad = sum(1 for c in codes if c != 200)
    print(f"{a.label}joins: {a.nodes} in {dt:.2f}s = "
          f"{a.nodes / dt:.0f}/s ({a.clients} clients, {bad} failed)")

    times = []
    for _ in range(20):
        t = time.monotonic()
        st, body = call(a.base, "GET", "/netmap", None, hub_auth)
        times.append(time.monotonic() - t)
    n = len(json.loads(body)["peers"])
    print(f"{a.label}hub netmap: {n} peers, median "
          f"{statistics.median(times) * 1000:.1f} ms, max "
          f"{max(times) * 1000:.1f} ms ({len(body)} bytes)")

    delays = []
    for i in range(20):
        st, body = call(a.base, "GET", "/netmap?timeout=0", None, hub_auth)
        version = json.loads(body)["version"]
        result = {}

        def poll():
            st, b = call(a.base, "GET",
                         f"/netmap?since={version}&timeout=10", None,
                         hub_auth)
            result["t"] = time.monotonic()
            result["ok"] = f'"late{i}"' in b.decode()

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.05)
        t = time.monotonic()
        call(bases[-1], "POST", "/join",
             {"node_id": f"late{i}", "public_key": pubkey()}, jh)
        th.join()
        if result.get("ok"):
            delays.append(result["t"] - t)
    where = "via the other controller" if len(bases) > 1 else ""
    print(f"{a.label}join to hub netmap {where}: median "
          f"{statistics.median(delays) * 1000:.1f} ms, max "
          f"{max(delays) * 1000:.1f} ms ({len(delays)}/20 seen)")


if __name__ == "__main__":
    main()
