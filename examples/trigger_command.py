"""Run a command when a label holds for N of the last M frames (e.g. switch a GPIO pin).

    python examples/trigger_command.py --label 7 --hold 5 --of 8 -- pinctrl set 17 op dh
    python examples/trigger_command.py --label person --model detect.tflite --source 0 -- \
        /usr/local/bin/notify.sh "someone is here"

Everything after ``--`` is the command and its arguments. It is run directly
(an argument list, never through a shell), at most once per --cooldown seconds,
and again only after the label went away. A command that cannot be found is an
error at start, not when the label first holds.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time

import edgekit


class Trigger:
    """Fires once when ``label`` is in at least ``hold`` of the last ``window`` frames."""

    def __init__(self, label: str, hold: int, window: int, cooldown: float) -> None:
        self.label, self.hold, self.cooldown = label, hold, cooldown
        self.recent: collections.deque[bool] = collections.deque(maxlen=window)
        self.armed = True
        self.last_fired = float("-inf")

    def update(self, seen: bool, now: float) -> bool:
        """Record one frame; True when the command should run now."""
        self.recent.append(seen)
        holding = sum(self.recent) >= self.hold
        if not holding and not any(self.recent):
            self.armed = True  # the label went away: the next hold fires again
        if holding and self.armed and now - self.last_fired >= self.cooldown:
            self.armed, self.last_fired = False, now
            return True
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True,
                        help="label to watch for, e.g. 7 (the bundled model's labels are 0-9)")
    parser.add_argument("--hold", type=int, default=5, help="N: frames with the label ...")
    parser.add_argument("--of", type=int, default=8, help="... out of the last M frames")
    parser.add_argument("--cooldown", type=float, default=10.0, help="seconds between two runs")
    parser.add_argument("--min-score", type=float, default=0.6, help="confidence the label needs")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--source", default="demo", help="demo, 0, /dev/video0, picam, a file or a URL")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.hold > args.of:
        parser.error("give a command after --, and --hold <= --of")
    if shutil.which(command[0]) is None:
        parser.error(f"{command[0]}: command not found (give a program on PATH or its path)")

    trigger = Trigger(args.label, args.hold, args.of, args.cooldown)
    source = int(args.source) if args.source.isdigit() else args.source
    try:
        with edgekit.stream(args.model, source, max_frames=args.max_frames) as results:
            for result in results:
                best = result.prediction.top
                seen = best is not None and best.score >= args.min_score and \
                    (best.label or str(best.id)) == args.label
                if trigger.update(seen, time.monotonic()):
                    print(f"frame {result.frame}: {args.label} held, running {command[0]}", flush=True)
                    done = subprocess.run(command, check=False, timeout=60)
                    if done.returncode:
                        print(f"{command[0]} exited with {done.returncode}", file=sys.stderr)
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
