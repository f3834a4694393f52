#!/usr/bin/python3
"""WebSocket echo (python3-websockets) for the gateway tests.

  wsecho.py serve ADDR PORT           echoes every message back
  wsecho.py send ADDR PORT HOST MSG   connects to ws://HOST/ through
                                      ADDR:PORT, prints the echo of MSG
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)


async def serve(addr, port):
    async with websockets.serve(echo, addr, port):
        await asyncio.Future()


async def send(addr, port, host, msg):
    async with websockets.connect("ws://%s/echo" % host, host=addr,
                                  port=port, open_timeout=5) as ws:
        await ws.send(msg)
        print(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(msg * 1000)
        back = await asyncio.wait_for(ws.recv(), 5)
        print("big", len(back))


if sys.argv[1] == "serve":
    asyncio.run(serve(sys.argv[2], int(sys.argv[3])))
else:
    asyncio.run(send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
