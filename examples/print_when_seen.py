"""Print a line each time a label appears in front of the camera.

    python examples/print_when_seen.py --label 7
    python examples/print_when_seen.py --label person --model detect.tflite --source 0

Runs on the built-in demo source (handwritten digits) when no --source is given.
A label counts as "seen" when it is the top result with at least --min-score,
and is reported again only after it was gone for a while (--gone frames).
"""

from __future__ import annotations

import argparse
import datetime
import sys

import edgekit


def top_label(result: edgekit.FrameResult, min_score: float) -> str | None:
    """The best class (or detection) label of a result, if it is confident enough."""
    best = result.prediction.top
    if best is None or best.score < min_score:
        return None
    return best.label or str(best.id)


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
    present, missing = False, 0
    try:
        with edgekit.stream(args.model, source, max_frames=args.max_frames) as results:
            for result in results:
                if top_label(result, args.min_score) == args.label:
                    missing = 0
                    if not present:
                        present = True
                        when = datetime.datetime.fromtimestamp(result.ts).strftime("%H:%M:%S")
                        print(f"{when} seen {args.label} (frame {result.frame}, "
                              f"score {result.prediction.top.score:.2f})", flush=True)
                else:
                    missing += 1
                    if missing >= args.gone:
                        present = False
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
