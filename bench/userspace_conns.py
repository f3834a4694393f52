#!/usr/bin/env python3
"""Connection load for bench/userspace.sh.

  hold-server ADDR PORT            accept, send one byte, hold every connection
  hold-client ADDR PORT N          open N connections, read each one's byte,
                                   print READY, hold them until stdin closes
  echo-server ADDR PORT            echo one message per connection, then close
  rate-client ADDR PORT RATE SECS  RATE new connections per second for SECS,
                                   each a request and its echo; prints JSON
"""
import asyncio
import json
import resource
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def hold_server(addr, port):
    held = []

    async def on_conn(r, w):
        w.write(b"x")
        await w.drain()
        held.append(w)
        await r.read()  # until the client closes

    srv = await asyncio.start_server(on_conn, addr, port, backlog=4096)
    print("READY", flush=True)
    async with srv:
        await srv.serve_forever()


async def hold_client(addr, port, n):
    conns = []
    sem = asyncio.Semaphore(64)  # a ramp, not a SYN flood at the hub
    failed = 0

    async def one():
        nonlocal failed
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(addr, port), 60)
                await asyncio.wait_for(r.readexactly(1), 60)
                conns.append(w)
            except Exception:
                failed += 1

    await asyncio.gather(*(one() for _ in range(n)))
    print("READY %d %d" % (len(conns), failed), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def echo_server(addr, port):
    async def on_conn(r, w):
        try:
            data = await r.read(1024)
            w.write(data)
            await w.drain()
        finally:
            w.close()

    srv = await asyncio.start_server(on_conn, addr, port, backlog=4096)
    print("READY", flush=True)
    async with srv:
        await srv.serve_forever()


async def rate_client(addr, port, rate, secs):
    ok = failed = 0
    lat = []

    async def one():
        nonlocal ok, failed
        t = time.monotonic()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(addr, port), 5)
            w.write(b"ping")
            await w.drain()
            data = await asyncio.wait_for(r.read(16), 5)
            w.close()
            if data == b"ping":
                ok += 1
                lat.append(time.monotonic() - t)
            else:
                failed += 1
        except Exception:
            failed += 1

    start = time.monotonic()
    tasks = []
    total = int(rate * secs)
    for i in range(total):
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.ensure_future(one()))
    offered_secs = time.monotonic() - start
    await asyncio.gather(*tasks)
    total_secs = time.monotonic() - start
    lat.sort()
    print(json.dumps({
        "offered": total, "ok": ok, "failed": failed,
        "offered_rate": total / offered_secs,
        "completed_rate": ok / total_secs,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
        "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None,
    }), flush=True)


def main():
    raise_nofile()
    cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "hold-server":
        asyncio.run(hold_server(addr, port))
    elif cmd == "hold-client":
        asyncio.run(hold_client(addr, port, int(sys.argv[4])))
    elif cmd == "echo-server":
        asyncio.run(echo_server(addr, port))
    elif cmd == "rate-client":
        asyncio.run(rate_client(addr, port, float(sys.argv[4]), float(sys.argv[5])))


if __name__ == "__main__":
    main()
