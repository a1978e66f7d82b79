"""Soak a real ``edgekit run`` process: sample RSS, open fds and threads from ``/proc``.

Shared by the 60 s test (``test_hardening_soak.py``) and the 10-minute benchmark
(``tests/benchmarks/bench_soak.py``). The RSS slope is a Theil–Sen estimate
(median of pairwise slopes): robust to the allocator's one-off jumps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from testkit import default_signals

EDGEKIT = str(Path(sys.executable).with_name("edgekit"))
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    rss: int
    fds: int
    threads: int


@dataclass(frozen=True, slots=True)
class SoakReport:
    seconds: float
    warmup: float
    samples: list[Sample]
    slope_bytes_per_s: float
    returncode: int
    summary: str

    @property
    def mb_per_10_min(self) -> float:
        return self.slope_bytes_per_s * 600 / 1e6

    def after_warmup(self) -> list[Sample]:
        return [s for s in self.samples if s.t >= self.warmup]

    def line(self) -> str:
        tail = self.after_warmup()
        rss = [s.rss / 1e6 for s in tail]
        return (f"soak {self.seconds:.0f} s (warm-up {self.warmup:.0f} s, {len(tail)} samples): "
                f"RSS {min(rss):.1f}-{max(rss):.1f} MB, slope {self.mb_per_10_min:+.3f} MB/10 min; "
                f"fds {sorted({s.fds for s in tail})}; threads {sorted({s.threads for s in tail})}")


def sample(pid: int, t: float) -> Sample:
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * PAGE
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    return Sample(t, rss, fds, threads)


def theil_sen(t: np.ndarray, y: np.ndarray) -> float:
    """Median of the slopes between all pairs of samples at least 1/3 of the span apart."""
    span = float(t[-1] - t[0])
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    keep = dt >= span / 3
    return float(np.median((y[j] - y[i])[keep] / dt[keep]))


def soak(seconds: float, warmup: float, every: float = 1.0, extra: tuple[str, ...] = ()) -> SoakReport:
    """Run ``edgekit run`` on the demo source for ``seconds``, sampling every ``every`` s."""
    proc = subprocess.Popen([EDGEKIT, "run", "--source", "demo", *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    samples: list[Sample] = []
    start = time.monotonic()
    try:
        while (now := time.monotonic() - start) < seconds and proc.poll() is None:
            samples.append(sample(proc.pid, now))
            time.sleep(every)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    tail = [s for s in samples if s.t >= warmup]
    slope = theil_sen(np.array([s.t for s in tail]), np.array([s.rss for s in tail], float)) \
        if len(tail) >= 3 else float("nan")
    lines = stderr.strip().splitlines()
    return SoakReport(seconds, warmup, samples, slope, proc.returncode, lines[-1] if lines else "")
