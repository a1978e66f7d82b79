"""Print a line each time a label appears in front of the camera.

    python examples/print_when_seen.py --label seven
    python examples/print_when_seen.py --label person --model detect.tflite --source 0

Runs on the built-in demo source (handwritten digits) when no --source is given.
A label counts as "seen" when the model gives it at least --min-score (an
``edgekit.Rule``), and is reported again only after it was gone for --gone frames.
"""

from __future__ import annotations

import argparse
import datetime
import sys

import edgekit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="label to watch for, e.g. seven")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--source", default="demo", help="demo, 0, /dev/video0, picam, a file or a URL")
    parser.add_argument("--min-score", type=float, default=0.6)
    parser.add_argument("--gone", type=int, default=10, help="frames without it before it can be seen again")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    args = parser.parse_args()

    # Seen in 1 of the last --gone frames: on; in none of them: off (so it can be seen again).
    rule = edgekit.Rule(args.label, min_score=args.min_score, hits=1, window=args.gone)
    source = int(args.source) if args.source.isdigit() else args.source
    try:  # a label the model does not have is an error at start, listing the labels it has
        with edgekit.stream(args.model, source, rules=[rule], events=True, max_frames=args.max_frames) as items:
            for item in items:
                if isinstance(item, edgekit.StreamEvent) and item.event == "rule" and item.state == "on":
                    when = datetime.datetime.fromtimestamp(item.ts).strftime("%H:%M:%S")
                    print(f"{when} seen {item.label} (frame {item.frame}, score {item.score:.2f})", flush=True)
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
