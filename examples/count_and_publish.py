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
import time

import paho.mqtt.client as mqtt

import edgekit


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

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgekit-counter")
    client.connect_async(args.mqtt_host, args.mqtt_port)
    client.loop_start()  # connects (and reconnects) in the background

    counts: collections.Counter[str] = collections.Counter()
    previous: str | None = None
    window_start = time.time()

    def publish(now: float, fps: float) -> mqtt.MQTTMessageInfo:
        message = {"from": round(window_start, 3), "to": round(now, 3), "counts": dict(counts),
                   "fps": round(fps, 1)}
        return client.publish(args.topic, json.dumps(message), qos=1)

    source = int(args.source) if args.source.isdigit() else args.source
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
        last = publish(time.time(), results.stats.fps)  # the last, partial window
    if client.is_connected():
        last.wait_for_publish(timeout=5)
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main()
