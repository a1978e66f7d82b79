"""Shared pytest set-up: `tests/` on sys.path (for `import zoo`), the --benchmarks flag."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", default=False,
                     help="run the speed benchmarks in tests/benchmarks (slow; prints ratio tables)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--benchmarks"):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `pytest --benchmarks tests/benchmarks`")
    for item in items:
        if "benchmark" in item.keywords:
            item.add_marker(skip)
