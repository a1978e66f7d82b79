"""Run a command when a label holds for N of the last M frames (e.g. switch a GPIO pin).

    python examples/trigger_command.py --label 7 --hold 5 --of 8 -- pinctrl set 17 op dh
    python examples/trigger_command.py --label person --model detect.tflite --source 0 -- \
        /usr/local/bin/notify.sh "someone is here"

Everything after ``--`` is the command and its arguments. It is run directly
(an argument list, never through a shell), at most once per --cooldown seconds,
and again only after the label went away (an ``edgekit.Rule``), by ``edgekit.Exec``,
off the stream's thread, with the event as JSON on its stdin. A command that cannot
be found is an error at start, not when the label first holds.
``edgekit run --when '7>=0.6 for 5/8' --cooldown 10 --exec CMD ARGS...`` does the same.
"""

from __future__ import annotations

import argparse
import sys

import edgekit


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
    try:  # the program is looked up now: a missing one is an error before the camera opens
        runner = edgekit.Exec(command, timeout=60, close_timeout=60)
    except edgekit.ConfigError:
        parser.error(f"{command[0]}: command not found (give a program on PATH or its path)")

    source = int(args.source) if args.source.isdigit() else args.source
    try:
        # On when the label is in --hold of the last --of frames; again only after it went away.
        rule = edgekit.Rule(args.label, min_score=args.min_score, hits=args.hold, window=args.of,
                            cooldown=args.cooldown)
        # One run at a time, stopped after 60 s; at the end, waits (60 s at most) for the last one.
        with runner, edgekit.stream(args.model, source, rules=[rule], events=True,
                                    max_frames=args.max_frames) as items:
            for item in items:
                if isinstance(item, edgekit.StreamEvent) and item.event == "rule" and item.state == "on":
                    print(f"frame {item.frame}: {args.label} held, running {command[0]}", flush=True)
                    runner.write(item)
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
