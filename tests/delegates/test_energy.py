"""The cost of inference: energy per inference from a measured rate and a profile's power figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import edgekit
from edgekit._device.energy import Power, estimate
from edgekit._device.profiles import parse_profile
from edgekit.errors import ConfigError

PI4 = Power(idle_w=2.7, load_w=6.4, source="a published measurement")


def test_energy_per_inference_matches_a_hand_calculation() -> None:
    found = estimate(50.0, PI4, price_kwh=0.30)
    assert found is not None
    # 6.4 W / 50 inferences/s = 0.128 J; (6.4 - 2.7) / 50 = 0.074 J above idle;
    # 0.128 J x 1e6 / 3600 s/h = 35.5556 Wh per million; 0.0355556 kWh x 0.30 = 0.0106667
    assert found.joules_per_inference == pytest.approx(0.128)
    assert found.marginal_joules_per_inference == pytest.approx(0.074)
    assert found.wh_per_million == pytest.approx(35.5556, rel=1e-5)
    assert found.cost_per_million == pytest.approx(0.0106667, rel=1e-5)
    row = found.to_dict()
    assert row["wh_per_million"] == pytest.approx(35.5556, rel=1e-5) and row["source"] == PI4.source


def test_watts_override_the_profile_and_no_figure_means_no_estimate() -> None:
    assert estimate(100.0, PI4, watts=5.0).joules_per_inference == pytest.approx(0.05)  # type: ignore[union-attr]
    assert estimate(100.0, Power(idle_w=0.6, source="x")) is None  # idle only: nothing to go by
    assert estimate(100.0, None) is None
    assert estimate(0.0, PI4) is None
    with pytest.raises(ConfigError, match="price per kWh must be > 0"):
        estimate(1.0, PI4, price_kwh=0)


def test_shipped_profiles_cite_a_source_for_every_power_figure() -> None:
    from edgekit._device.profiles import profiles

    with_figures = [p for p in profiles().values() if p.power.idle_w or p.power.load_w]
    assert {"rpi-4b", "rpi-3bplus"} <= {p.name for p in with_figures}
    for p in with_figures:
        assert p.power.source.strip(), p.name
        if p.power.idle_w and p.power.load_w:
            assert p.power.load_w > p.power.idle_w


def test_a_power_figure_without_a_source_is_refused() -> None:
    base = {"schema": 1, "name": "x", "title": "X", "soc": {"name": "s", "cpu": "c", "cores": 4, "max_mhz": 1,
            "arch": "a"}, "isa": {"features": []}, "recommend": {"threads": 1, "threads_why": "w",
            "precision": "int8", "precision_why": "w"}, "camera": {"stack": "v4l2"}, "thermal": {}, "detect": {}}
    with pytest.raises(ConfigError, match=r"'power\.source' must be a citation"):
        parse_profile({**base, "power": {"load_w": 5.0}}, "x.toml")
    with pytest.raises(ConfigError, match=r"'power\.load_w' must be greater than idle_w"):
        parse_profile({**base, "power": {"idle_w": 3.0, "load_w": 2.0, "source": "s"}}, "x.toml")
    assert parse_profile({**base, "power": {"idle_w": 1.0, "load_w": 2.0, "source": "s"}}, "x.toml").power.load_w == 2


def test_bench_reports_throughput_and_the_energy_it_implies(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edgekit", "bench", "default", "--threads", "1", "--runs", "5",
                           "--min-seconds", "0.1", "--warmup-seconds", "0", "--throughput-seconds", "0.3",
                           "--watts", "6.4", "--price-kwh", "0.3", "--json"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["results"]
    rate = row["throughput"]
    assert rate["ips"] > 0 and rate["threads"] == 1 and rate["interpreters"] >= 1
    assert rate["per_core"] == pytest.approx(rate["ips"] / rate["cores_used"], rel=1e-3)
    energy = row["energy"]
    assert energy["joules_per_inference"] == pytest.approx(6.4 / rate["ips"], rel=1e-3)
    assert energy["wh_per_million"] == pytest.approx(6.4 / rate["ips"] * 1e6 / 3600, rel=1e-3)
    assert energy["cost_per_million"] == pytest.approx(energy["wh_per_million"] / 1000 * 0.3, rel=1e-3)
    assert list(tmp_path.iterdir()) == []


def test_batch_summary_reports_items_per_second_and_energy(tmp_path: Path) -> None:
    sample = str(Path(edgekit.default_model_path()).with_name("digit_sample.png"))
    proc = subprocess.run([sys.executable, "-m", "edgekit", "batch", "default", sample, "--watts", "5",
                           "--price-kwh", "0.25", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "items/s" in proc.stderr
    assert "energy: " in proc.stderr and "Wh per million" in proc.stderr and "at 0.25/kWh" in proc.stderr
