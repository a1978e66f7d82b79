"""A child process that loads model files natively, one per line of stdin.

Used by the corpus tests: mutants that pass the structural check reach the
native interpreter here, so that a crash kills this worker, never pytest. For
each path it prints ``<index> <outcome> <ErrorName or ->: <message>`` and flushes
before loading the next, so the parent knows which file killed it.
"""

from __future__ import annotations

import sys


def main() -> int:
    import edgekit

    for line in sys.stdin:
        index, path = line.rstrip("\n").split(" ", 1)
        sys.stdout.write(f"{index} start\n")
        sys.stdout.flush()
        try:
            with edgekit.load(path, threads=1) as model:
                if model.inputs and model.input_format is not None:
                    import numpy as np

                    model.predict(np.zeros((40, 40, 3), np.uint8))
            outcome = "loaded -"
        except edgekit.EdgekitError as exc:
            outcome = f"error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        except Exception as exc:  # noqa: BLE001 - reported to the parent as a finding
            outcome = f"unexpected {type(exc).__name__}: {exc}"
        sys.stdout.write(f"{index} {outcome}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
