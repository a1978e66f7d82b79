"""Run a command when a label holds for N of the last M frames (e.g. switch a GPIO pin).

    python examples/trigger_command.py --label seven --hold 5 --of 8 -- pinctrl set 17 op dh
    python examples/trigger_command.py --label person --model detect.tflite --source 0 -- \
        /usr/local/bin/notify.sh "someone is here"

Everything after ``--`` is the command and its arguments. It is run directly
(an argument list, never through a shell), at most once per --cooldown seconds,
and again only after the label went away (an ``edgekit.Rule`` run by ``edgekit.Exec``).
``edgekit run --when 'seven>=0.6 for 5/8' --cooldown 10 --exec CMD ARGS...`` does the same.
"""

from __future__ import annotations

import argparse
import sys

import edgekit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--hold", type=int, default=5, help="N: frames with the label ...")
    parser.add_argument("--of", type=int, default=8, help="... out of the last M frames")
    parser.add_argument("--cooldown", type=float, default=10.0, help="seconds between two runs")
    parser.add_argument("--min-score", type=float, default=0.6)
    parser.add_argument("--model", default=None, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--source", default="demo", help="demo, 0, /dev/video0, picam, a file or a URL")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.hold > args.of:
        parser.error("give a command after --, and --hold <= --of")

    source = int(args.source) if args.source.isdigit() else args.source
    try:
        # On when the label is in --hold of the last --of frames; again only after it went away.
        rule = edgekit.Rule(args.label, min_score=args.min_score, hits=args.hold, window=args.of,
                            cooldown=args.cooldown)
        # Runs the command off the stream's thread (one at a time, stopped after 60 s); a missing
        # command is an error here, before the camera opens. At the end, waits for it to finish.
        with edgekit.Exec(command, timeout=60, close_timeout=60) as runner, \
                edgekit.stream(args.model, source, rules=[rule], events=True,
                               max_frames=args.max_frames) as items:
            for item in items:
                if isinstance(item, edgekit.StreamEvent) and item.event == "rule" and item.state == "on":
                    print(f"frame {item.frame}: {args.label} held, running {command[0]}", flush=True)
                    runner.write(item)  # the event reaches the command as JSON on stdin and EDGEKIT_* variables
    except edgekit.EdgekitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
