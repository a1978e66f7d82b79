"""Shared pytest set-up: `tests/` on sys.path (for `import zoo`), the --benchmarks flag, and the
order in which pytest-xdist (``-n 3 --dist loadfile`` in pyproject.toml) hands out the test files:
the files with the most slow tests first, so that the long ones (TensorFlow trainings, the soak)
start early and the short ones fill the gaps at the end, instead of one worker finishing a training
alone. ``loadfile`` keeps each file on one worker, so a module-scoped fixture (a trained model, a
built wheel) is built once. Order only: no test may depend on another's order.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", default=False,
                     help="run the speed benchmarks in tests/benchmarks (slow; prints ratio tables)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--benchmarks"):  # measured side by side in one process, not racing a worker
        config.option.dist, config.option.numprocesses = "no", None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = Counter(_module(item) for item in items if "slow" in item.keywords)
    items.sort(key=lambda item: -slow[_module(item)])  # stable: file order among equals
    if config.getoption("--benchmarks"):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `pytest --benchmarks tests/benchmarks`")
    for item in items:
        if "benchmark" in item.keywords:
            item.add_marker(skip)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]

