"""An echo server on Python's `websockets` (Debian's python3-websockets, 10.x) for a client under test.

    websockets_server.py [--compression deflate|none]

Listens on 127.0.0.1 on a free port and prints one JSON object per line: listening (the port), connection (path and
negotiated extensions), pong (for /close/CODE: a ping with a payload was answered), closed (the code and reason the
client sent or answered with). Paths: anything echoes every message until the client closes; /close/CODE pings the
client, then closes with CODE. Exits on SIGTERM, when stdin closes (the test died), or after 60 s.
"""
import argparse
import ssl
import asyncio
import json
import signal
import sys

import websockets


def emit(**fields):
    print(json.dumps(fields), flush=True)


async def handler(ws):
    emit(event="connection", path=ws.path, extensions=[e.name for e in ws.extensions],
         header=ws.response_headers.get("Sec-WebSocket-Extensions"))
    if ws.path.startswith("/close/"):
        payload = b"server ping \x01\x02"
        waiter = await ws.ping(payload)
        await asyncio.wait_for(waiter, 10)
        emit(event="pong", payload=payload.hex())
        await ws.close(int(ws.path.split("/")[2]), "closing from python")
    else:
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass
    await ws.wait_closed()
    emit(event="closed", path=ws.path, code=ws.close_code, reason=ws.close_reason)


async def main(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.cancel)
    loop.add_reader(sys.stdin, lambda: sys.stdin.read() or stop.cancel())  # EOF: the parent is gone
    compression = None if args.compression == "none" else "deflate"
    tls = None
    if args.tls_cert:  # wss
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    async with websockets.serve(handler, "127.0.0.1", 0, compression=compression, max_size=None,
                                ping_interval=None, close_timeout=5, ssl=tls) as server:
        emit(event="listening", port=server.sockets[0].getsockname()[1])
        try:
            await asyncio.wait_for(stop, 60)
        except (asyncio.CancelledError, asyncio.TimeoutError):
            pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    asyncio.run(main(parser.parse_args()))
