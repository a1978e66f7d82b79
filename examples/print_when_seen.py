"""Print a line each time a label appears in front of the camera.

    python examples/print_when_seen.py --label 7
    python examples/print_when_seen.py --label person --model detect.tflite --source 0

Runs on the built-in demo source (handwritten digits) when no --source is given.
A label counts as "seen" when the model gives it at least --min-score (an
``edgekit.Rule``: 1 of the last --gone frames), and is reported again only after
it was gone for --gone frames. A label the model does not have is an error at
start that lists the labels it has.
"""

from __future__ import annotations

import argparse
import datetime
import sys

import edgekit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True,
                        help="label to watch for, e.g. 7 (the bundled model's labels are 0-9)")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--source", default="demo", help="demo, 0, /dev/video0, picam, a file or a URL")
    parser.add_argument("--min-score", type=float, default=0.6, help="confidence the label needs")
    parser.add_argument("--gone", type=int, default=10, help="frames without it before it can be seen again")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    args = parser.parse_args()

    source = int(args.source) if args.source.isdigit() else args.source
    try:
        # On when seen in 1 of the last --gone frames; off when in none of them (then it can be seen again).
        rule = edgekit.Rule(args.label, min_score=args.min_score, hits=1, window=args.gone)
        with edgekit.stream(args.model, source, rules=[rule], events=True, max_frames=args.max_frames) as items:
            for item in items:
                if isinstance(item, edgekit.StreamEvent) and item.event == "rule" and item.state == "on":
                    when = datetime.datetime.fromtimestamp(item.ts).strftime("%H:%M:%S")
                    print(f"{when} seen {item.label} (frame {item.frame}, score {item.score:.2f})", flush=True)
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
