"""Count what the camera sees and publish the counts to MQTT every few seconds.

    python examples/count_and_publish.py --mqtt-host localhost --topic home/garden/counts

Each message is JSON: {"from": ..., "to": ..., "counts": {"seven": 3, ...}, "fps": 29.5}
where a count is the number of times a label *appeared* (top result with at least
--min-score after another label or nothing). Needs paho-mqtt (pip install 'edgekit-tflite[mqtt]').
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time

import edgekit
from edgekit.sinks import MqttSink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt-host", default="localhost")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--topic", default="edgekit/counts")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between messages")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--source", default="demo", help="demo, 0, /dev/video0, picam, a file or a URL")
    parser.add_argument("--min-score", type=float, default=0.6)
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    args = parser.parse_args()

    try:
        model = edgekit.load(args.model or edgekit.default_model_path())
        # One rule per label: it turns on each time the label appears (and off when it goes).
        rules = [edgekit.Rule(label, min_score=args.min_score) for label in model.labels]
        # Connects (and reconnects) in the background; messages wait while the broker is away.
        mqtt = MqttSink(f"mqtt://{args.mqtt_host}:{args.mqtt_port}", topic=args.topic, qos=1,
                        close_timeout=5.0)
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")

    counts: collections.Counter[str] = collections.Counter()
    window_start = time.time()

    def publish(now: float, fps: float) -> None:
        message = {"from": round(window_start, 3), "to": round(now, 3), "counts": dict(counts),
                   "fps": round(fps, 1)}
        mqtt.publish(args.topic, json.dumps(message).encode())

    source = int(args.source) if args.source.isdigit() else args.source
    with mqtt, model, edgekit.stream(model, source, rules=rules, events=True, duration=args.duration) as items:
        for item in items:
            if isinstance(item, edgekit.StreamEvent) and item.event == "rule" and item.state == "on":
                counts[item.label] += 1  # type: ignore[index]
            if time.time() - window_start >= args.interval:
                publish(time.time(), items.stats.fps)
                counts.clear()
                window_start = time.time()
        publish(time.time(), items.stats.fps)  # the last, partial window


if __name__ == "__main__":
    main()
