"""Count what the camera sees and publish the counts to MQTT every few seconds.

    python examples/count_and_publish.py --mqtt-host localhost --topic home/garden/counts

Each message is JSON: {"from": ..., "to": ..., "counts": {"7": 3, ...}, "fps": 29.5}
where a count is the number of times a label *appeared* (top result with at least
--min-score after another label or nothing). Needs paho-mqtt (pip install 'edgekit-tflite[mqtt]').
A broker that cannot be reached at start is an error (exit 1); later the client
reconnects on its own, and messages it could not deliver make the exit code 1.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from typing import Any

import edgekit


def connect(host: str, port: int) -> Any:
    """A paho client connected to ``host:port`` (reconnecting in the background), or exit."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        print("count_and_publish.py needs paho-mqtt: pip install 'edgekit-tflite[mqtt]'", file=sys.stderr)
        sys.exit(2)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgekit-counter")
    try:
        client.connect(host, port)
    except OSError as exc:  # refused, unknown host, unreachable
        sys.exit(f"count_and_publish.py: cannot reach the MQTT broker at {host}:{port}: "
                 f"{exc.strerror or exc}")
    client.loop_start()  # from now on it reconnects by itself
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt-host", default="localhost", help="the MQTT broker")
    parser.add_argument("--mqtt-port", type=int, default=1883, help="its port")
    parser.add_argument("--topic", default="edgekit/counts", help="where the counts go")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between messages")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--source", default="demo", help="demo, 0, /dev/video0, picam, a file or a URL")
    parser.add_argument("--min-score", type=float, default=0.6, help="confidence a label needs to count")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    args = parser.parse_args()

    client = connect(args.mqtt_host, args.mqtt_port)
    sent: list[Any] = []
    counts: collections.Counter[str] = collections.Counter()
    previous: str | None = None
    window_start = time.time()

    def publish(now: float, fps: float) -> None:
        message = {"from": round(window_start, 3), "to": round(now, 3), "counts": dict(counts),
                   "fps": round(fps, 1)}
        sent.append(client.publish(args.topic, json.dumps(message), qos=1))

    source = int(args.source) if args.source.isdigit() else args.source
    try:
        with edgekit.stream(args.model, source, duration=args.duration) as results:
            for result in results:
                best = result.prediction.top
                label = (best.label or str(best.id)) if best and best.score >= args.min_score else None
                if label is not None and label != previous:
                    counts[label] += 1
                previous = label
                if time.time() - window_start >= args.interval:
                    publish(time.time(), results.stats.fps)
                    counts.clear()
                    window_start = time.time()
            publish(time.time(), results.stats.fps)  # the last, partial window
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")
    deadline = time.monotonic() + 5
    for info in sent:
        info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
    client.loop_stop()
    client.disconnect()
    unsent = sum(not info.is_published() for info in sent)
    if unsent:
        sys.exit(f"count_and_publish.py: {unsent} of {len(sent)} messages did not reach "
                 f"{args.mqtt_host}:{args.mqtt_port}")


if __name__ == "__main__":
    main()
