"""A tiny MJPEG-over-HTTP camera stand-in, fed by a real ``ffmpeg`` process.

``ffmpeg -re -f lavfi -i testsrc`` produces frames at a fixed rate (like a
camera) as a multipart JPEG stream on a pipe; this server sends the newest one
to each connected client (``multipart/x-mixed-replace``, as IP cameras and
mjpg-streamer do). Killing it and starting it again on the same port is how
the tests unplug and replug a "camera".

With ``--barcode``, frame N carries N in binary in its top 16 rows (20 white
or black 16×16 blocks, bit 0 leftmost) and ``--log`` records when each frame
was published, so a client can tell exactly how old a frame it got is.

Run: ``python mjpeg_server.py --port 8554 [--fps 30] [--size 320x240] [--barcode] [--log F]``;
it prints ``READY <port>`` once it listens.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BITS = 20
BLOCK = 16


def barcode_filter(width: int) -> str:
    """ffmpeg drawbox chain writing the frame number ``n`` as 20 blocks in the top rows."""
    parts = [f"drawbox=x=0:y=0:w={width}:h={BLOCK}:color=black:t=fill"]
    for bit in range(BITS):
        parts.append(f"drawbox=x={bit * BLOCK}:y=0:w={BLOCK}:h={BLOCK}:color=white:t=fill:"
                     f"enable='mod(floor(n/{1 << bit}),2)'")
    return ",".join(parts)


def read_barcode(gray_or_bgr) -> int:  # type: ignore[no-untyped-def]
    """The frame number a ``--barcode`` frame carries."""
    image = gray_or_bgr if gray_or_bgr.ndim == 2 else gray_or_bgr[:, :, 1]
    value = 0
    for bit in range(BITS):
        block = image[4:BLOCK - 4, bit * BLOCK + 4:(bit + 1) * BLOCK - 4]
        if block.mean() > 128:
            value |= 1 << bit
    return value


class Feed:
    """Reads JPEG frames from ffmpeg's ``mpjpeg`` output; keeps the newest."""

    def __init__(self, args: argparse.Namespace) -> None:
        width = int(args.size.split("x")[0])
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
               f"testsrc=size={args.size}:rate={args.fps}"]
        if args.barcode:
            cmd += ["-vf", barcode_filter(width)]
        cmd += ["-q:v", "5", "-f", "mpjpeg", "-"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        self.cond = threading.Condition()
        self.frame: bytes = b""
        self.number = -1
        self.log = open(args.log, "w", buffering=1) if args.log else None  # noqa: SIM115
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while True:  # part headers up to the blank line
                line = stream.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                if line in (b"\r\n", b"\n") and length is not None:
                    break
            data = stream.read(length)
            if len(data) < length:
                return
            with self.cond:
                self.number += 1
                self.frame = data
                if self.log:
                    self.log.write(f"{self.number} {time.time():.6f}\n")
                self.cond.notify_all()

    def wait_newer(self, number: int, timeout: float = 5.0) -> tuple[int, bytes]:
        with self.cond:
            self.cond.wait_for(lambda: self.number > number, timeout)
            return self.number, self.frame


def make_handler(feed: Feed) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            sent = -1
            try:
                while True:
                    sent, jpeg = feed.wait_newer(sent)
                    if not jpeg:
                        continue
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                     + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--barcode", action="store_true")
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    feed = Feed(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(feed))
    server.daemon_threads = True

    def stop(*_: object) -> None:
        feed.proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        feed.proc.kill()


if __name__ == "__main__":
    main()
