"""60-second soak of a real ``edgekit run`` on the demo source (10 minutes: bench_soak.py).

After a 20 s warm-up, open file descriptors and threads must stay exactly
constant, and the RSS slope (Theil–Sen, robust to allocator jumps) must stay
under :data:`SLOPE_LIMIT_MB_PER_10_MIN`. That limit is honest for 40 s of
samples: RSS moves in pages and the end-of-run latency history (bounded,
20 000 results) is still filling, so 60 s cannot resolve the issue's 1 MB per
10 minutes; it does catch a per-frame leak (one 320×240 frame a second is
~140 MB per 10 minutes; 500 bytes a frame at 30 FPS is 9 MB). The 1 MB bound
is checked by the 10-minute benchmark.
"""

from __future__ import annotations

import hardening_soak as hs
import pytest

SOAK_S = 60.0
WARMUP_S = 20.0
SLOPE_LIMIT_MB_PER_10_MIN = 10.0


@pytest.mark.slow  # a 60 s soak
def test_run_on_the_demo_source_for_60s_keeps_fds_threads_constant_and_rss_flat() -> None:
    report = hs.soak(SOAK_S, WARMUP_S)
    print("\n" + report.line())
    assert report.returncode == 0, report.summary
    tail = report.after_warmup()
    assert len(tail) >= 20
    assert len({s.fds for s in tail}) == 1, [s.fds for s in tail]
    assert len({s.threads for s in tail}) == 1, [s.threads for s in tail]
    assert report.mb_per_10_min < SLOPE_LIMIT_MB_PER_10_MIN
    assert "0 bad" in report.summary and "SIGTERM received" in report.summary
