"""A small HTTP/1.1 load generator, run as its own process (it must not share the server's GIL).

Closed loop: ``--clients`` connections (keep-alive), each sending the same
``POST`` as soon as it has the previous answer, for ``--duration`` seconds or
``--count`` requests in all. Prints one JSON object: answers by status, the
latencies of the 200s (ms), whether every 503 carried ``Retry-After``, the
model SHA-256s that answered, connection errors, and requests per second.

    python loadgen.py URL BODY_FILE --clients 4 --duration 10 [--type image/jpeg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


def _request(url: str, body: bytes, content_type: str) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed before an answer")
    status = int(status_line.split()[1])
    headers: dict[bytes, bytes] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.partition(b":")
        headers[key.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers


async def _client(host: str, port: int, request: bytes, stop: float, budget: list[int], out: dict) -> None:
    connection = None
    while time.monotonic() < stop and budget[0] > 0:
        budget[0] -= 1
        try:
            if connection is None:
                connection = await asyncio.open_connection(host, port)
            reader, writer = connection
            started = time.perf_counter()
            writer.write(request)
            status, headers = await _answer(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            out["errors"][type(exc).__name__] += 1
            connection = None
            continue
        out["status"][status] += 1
        if status == 200:
            out["latency"].append((time.perf_counter() - started) * 1e3)
            out["models"][headers.get(b"x-model-sha256", b"?").decode()] += 1
        elif status == 503 and b"retry-after" not in headers:
            out["503_without_retry_after"] += 1
        if headers.get(b"connection") == b"close":
            connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def run(url: str, body: bytes, content_type: str, clients: int, duration: float, count: int) -> dict:
    parts = urlsplit(url)
    request = _request(url, body, content_type)
    out: dict = {"status": Counter(), "errors": Counter(), "latency": [], "models": Counter(),
                 "503_without_retry_after": 0}
    budget = [count]
    started = time.monotonic()
    await asyncio.gather(*(_client(parts.hostname or "127.0.0.1", parts.port or 80, request,
                                   started + duration, budget, out) for _ in range(clients)))
    seconds = time.monotonic() - started
    latency = out.pop("latency")
    ok = out["status"].get(200, 0)
    return {**{k: dict(v) if isinstance(v, Counter) else v for k, v in out.items()},
            "seconds": round(seconds, 3), "ok_per_s": round(ok / seconds, 2),
            "p50_ms": _percentile(latency, 0.50), "p99_ms": _percentile(latency, 0.99),
            "max_ms": _percentile(latency, 1.0)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("body")
    parser.add_argument("--type", default="image/jpeg")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--count", type=int, default=10**9)
    args = parser.parse_args(argv)
    with open(args.body, "rb") as handle:
        body = handle.read()
    result = asyncio.run(run(args.url, body, args.type, args.clients, args.duration, args.count))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
