"""The cost of inference: energy per inference and per million, from a measured throughput.

A device profile's ``[power]`` table gives the whole board's draw at idle and under full
CPU load, each with the published source it came from. While a model runs on every core
(what ``bench``'s throughput and ``batch`` do) the board draws about its load power, so

- energy per inference = load watts / inferences per second (joules),
- of which above idle  = (load − idle) watts / inferences per second,
- per million          = joules × 10⁶ / 3600 (watt-hours), and with a price per kWh, money.

These are estimates from published board figures, not measurements of this run: the
README says how to measure a board with a USB power meter and pass ``--watts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["EnergyEstimate", "Power", "estimate"]

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Power:
    """A board's power draw (watts at the power input), with where the figures come from."""

    idle_w: float | None = None
    load_w: float | None = None
    source: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"idle_w": self.idle_w, "load_w": self.load_w, "source": self.source, "note": self.note}


@dataclass(frozen=True, slots=True)
class EnergyEstimate:
    """Energy (and cost) of inference at a measured rate on a board drawing ``load_w``.

    Attributes:
        ips: Inferences per second (all cores busy).
        load_w: Board power while they run (watts).
        idle_w: Board power at idle, when known (for the share above idle).
        price_kwh: Price of a kWh, when given (any currency).
        source: Where the power figures come from.
    """

    ips: float
    load_w: float
    idle_w: float | None = None
    price_kwh: float | None = None
    source: str = ""

    @property
    def joules_per_inference(self) -> float:
        return self.load_w / self.ips

    @property
    def marginal_joules_per_inference(self) -> float | None:
        """Energy above what the idle board draws anyway."""
        return None if self.idle_w is None else (self.load_w - self.idle_w) / self.ips

    @property
    def wh_per_million(self) -> float:
        return self.joules_per_inference * 1e6 / SECONDS_PER_HOUR

    @property
    def cost_per_million(self) -> float | None:
        return None if self.price_kwh is None else self.wh_per_million / 1000.0 * self.price_kwh

    def to_dict(self) -> dict[str, Any]:
        marginal = self.marginal_joules_per_inference
        cost = self.cost_per_million
        return {
            "ips": _sig(self.ips), "load_w": self.load_w, "idle_w": self.idle_w,
            "joules_per_inference": _sig(self.joules_per_inference),
            "marginal_joules_per_inference": None if marginal is None else _sig(marginal),
            "wh_per_million": _sig(self.wh_per_million),
            "price_kwh": self.price_kwh, "cost_per_million": None if cost is None else _sig(cost),
            "source": self.source,
        }

    def line(self) -> str:
        """``0.045 J/inference, 12.5 Wh per million (0.0038 per million at 0.30/kWh)``."""
        text = f"{self.joules_per_inference:.4g} J/inference, {self.wh_per_million:.4g} Wh per million"
        if self.cost_per_million is not None:
            text += f" ({self.cost_per_million:.4g} per million at {self.price_kwh:g}/kWh)"
        return text


def _sig(value: float, digits: int = 6) -> float:
    """``value`` to ``digits`` significant digits (a cost per million can be 0.0001)."""
    return float(f"{value:.{digits}g}")


def estimate(ips: float, power: Power | None, price_kwh: float | None = None,
             watts: float | None = None) -> EnergyEstimate | None:
    """The estimate for ``ips`` on a board with ``power``; ``watts`` overrides its load figure.

    Returns:
        ``None`` when there is no load power to go by (no ``[power]`` in the profile and no
        ``watts``) or nothing was measured.

    Raises:
        ConfigError: a price or wattage that is not positive.
    """
    if price_kwh is not None and price_kwh <= 0:
        raise ConfigError(f"price per kWh must be > 0, got {price_kwh}")
    if watts is not None and watts <= 0:
        raise ConfigError(f"watts must be > 0, got {watts}")
    load = watts if watts is not None else (power.load_w if power else None)
    if load is None or not ips or ips <= 0:
        return None
    source = "given with --watts" if watts is not None else (power.source if power else "")
    idle = power.idle_w if power is not None else None
    if idle is not None and idle >= load:
        idle = None  # a --watts below the profile's idle: the share above idle means nothing
    return EnergyEstimate(ips=float(ips), load_w=float(load), idle_w=idle, price_kwh=price_kwh, source=source)
