"""A client on Python's `websockets` (Debian's python3-websockets, 10.x) against a server under test.

    websockets_client.py URL [--compression deflate|none] [--size BYTES] [--wait-close]

Prints one JSON object per line: open (negotiated extensions), one echo per message (sent and received compared
byte for byte), pong (a ping with a payload answered), closed (the code and reason the server answered with).
With --wait-close it only opens and waits for the server to close. Bounded in time; exits 0 when it all ran.
"""
import argparse
import ssl
import asyncio
import json
import os
import sys

import websockets

TEXT = "héllo wörld — ✓ 𝄞 日本語"


def emit(**fields):
    print(json.dumps(fields), flush=True)


def big_text(size):
    # Multi-byte characters with a varying mix, so the message is neither ASCII nor trivially compressible.
    chars = "aé€𝄞日"
    raw = os.urandom(size // 2)  # 2.6 bytes a character on average: over `size` bytes
    return "".join(chars[b % len(chars)] for b in raw)


async def echo(ws, kind, message):
    await ws.send(message)
    got = await asyncio.wait_for(ws.recv(), 30)
    sent_bytes = message.encode() if isinstance(message, str) else message
    got_bytes = got.encode() if isinstance(got, str) else got
    emit(event="echo", kind=kind, type="text" if isinstance(got, str) else "binary",
         bytes=len(sent_bytes), equal=got_bytes == sent_bytes and type(got) is type(message))


async def main(args):
    compression = None if args.compression == "none" else "deflate"
    # wss: trust the test's throwaway CA (--ca)
    tls = ssl.create_default_context(cafile=args.ca) if args.ca else None
    async with websockets.connect(args.url, compression=compression, max_size=None, ping_interval=None,
                                  open_timeout=10, close_timeout=5, ssl=tls) as ws:
        emit(event="open", extensions=[e.name for e in ws.extensions],
             header=ws.response_headers.get("Sec-WebSocket-Extensions"))
        if args.wait_close:
            await ws.wait_closed()
            emit(event="closed", code=ws.close_code, reason=ws.close_reason)
            return
        await echo(ws, "text", TEXT)
        await echo(ws, "binary", os.urandom(1000))
        await echo(ws, "empty-text", "")
        await echo(ws, "large-binary", os.urandom(args.size))
        await echo(ws, "large-text", big_text(args.size))
        payload = b"ping \x00\xff payload"
        waiter = await ws.ping(payload)
        await asyncio.wait_for(waiter, 10)  # resolves only for a pong carrying the same payload
        emit(event="pong", payload=payload.hex())
        await ws.close(4000, "bye from python")
        emit(event="closed", code=ws.close_code, reason=ws.close_reason)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    parser.add_argument("--size", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--wait-close", action="store_true")
    parser.add_argument("--ca")
    try:
        asyncio.run(asyncio.wait_for(main(parser.parse_args()), 60))
    except Exception as err:  # reported as a line the test can show
        emit(event="error", error=f"{type(err).__name__}: {err}")
        sys.exit(1)
