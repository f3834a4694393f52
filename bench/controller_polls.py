#!/usr/bin/env python3
"""Held long-polls at scale: N connections hold GET /netmap for one spoke,
then a hub joins; reports how long until every poll has its answer.

  controller_polls.py --base URL --master KEY [--polls N]
"""
import argparse
import asyncio
import base64
import json
import os
import time
import urllib.parse
import urllib.request


def post(base, path, body, headers):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
                                 headers)
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def key():
    return base64.b64encode(os.urandom(32)).decode()


async def poll(host, port, path, tok, ready):
    r, w = await asyncio.open_connection(host, port)
    w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}"
            "\r\nConnection: close\r\n\r\n".encode())
    await w.drain()
    ready.append(1)
    data = await r.read()
    w.close()
    return time.monotonic(), data.split(b"\r\n", 1)[0]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--master", required=True)
    ap.add_argument("--polls", type=int, default=5000)
    a = ap.parse_args()
    auth = {"Authorization": "Bearer " + a.master}
    tok = post(a.base, "/tokens", {"role": "hub", "uses": 2}, auth)["token"]
    post(a.base, "/join", {"node_id": "hub-a", "public_key": key()},
         {"X-Join-Token": tok})
    stok = post(a.base, "/tokens", {"uses": 1}, auth)["token"]
    spoke = post(a.base, "/join", {"node_id": "spoke", "public_key": key()},
                 {"X-Join-Token": stok})
    u = urllib.parse.urlsplit(a.base)
    path = f"/netmap?since={spoke['version']}&timeout=60"
    ready = []
    tasks = [asyncio.create_task(poll(u.hostname, u.port, path,
                                      spoke["node_token"], ready))
             for _ in range(a.polls)]
    while len(ready) < a.polls:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    t = time.monotonic()
    await asyncio.to_thread(post, a.base, "/join",
                            {"node_id": "hub-b", "public_key": key()},
                            {"X-Join-Token": tok})
    results = await asyncio.gather(*tasks)
    ok = sum(1 for _, line in results if b" 200 " in line)
    last = max(t_done for t_done, _ in results) - t
    print(f"held polls: {a.polls}, answered 200: {ok}, all answered "
          f"{last * 1000:.0f} ms after the hub joined")


asyncio.run(main())
