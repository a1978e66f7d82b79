"""A child process that loads model files natively, one path per line of stdin.

Used by the corpus tests: mutants that pass the structural check reach the
native interpreter here, so that a crash kills this worker, never pytest. For
each ``<index> <path>`` line it prints ``<index> start`` then, after loading
the model and predicting once on a grey frame, ``<index> <kind> <detail>``
where kind is ``loaded``, ``error`` (an edgekit error: ``Name: message``) or
``unexpected`` (anything else, with the stage: load or predict).
"""

from __future__ import annotations

import sys


def _one(path: str) -> str:
    import numpy as np

    import edgekit

    try:
        model = edgekit.load(path, threads=1)
    except edgekit.EdgekitError as exc:
        return f"error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a finding
        return f"unexpected load {type(exc).__name__}: {exc}"
    with model:
        try:
            if model.input_format is not None:
                model.predict(np.full((40, 40, 3), 128, np.uint8))
        except edgekit.EdgekitError as exc:
            return f"error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        except Exception as exc:  # noqa: BLE001
            return f"unexpected predict {type(exc).__name__}: {str(exc)[:200]}"
    return "loaded -"


def main() -> int:
    while line := sys.stdin.readline():
        index, path = line.rstrip("\n").split(" ", 1)
        sys.stdout.write(f"{index} start\n")
        sys.stdout.flush()
        outcome = _one(path).replace("\n", " ")
        sys.stdout.write(f"{index} {outcome}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
