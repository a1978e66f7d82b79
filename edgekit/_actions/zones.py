"""Zones: the part of the picture a rule watches (a box or a polygon, in source pixels).

A detection is in a zone when its box centre is inside (the default) or when at
least ``min_overlap`` of its box area lies inside. The geometry is plain Python:
point in polygon by ray casting, box ∩ polygon by clipping the polygon to the box
(Sutherland–Hodgman; the box is convex, the polygon need not be) and the
shoelace formula.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..results import BBox

__all__ = ["Zone", "polygon_area"]

Point = tuple[float, float]


def polygon_area(points: Sequence[Point]) -> float:
    """Area of a simple polygon (shoelace formula); 0 for fewer than 3 points."""
    if len(points) < 3:
        return 0.0
    twice = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        twice += x1 * y2 - x2 * y1
    return abs(twice) / 2.0


def _inside(point: Point, polygon: Sequence[Point]) -> bool:
    """Whether ``point`` is inside ``polygon`` (ray casting; even-odd rule)."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _clip(polygon: list[Point], keep: tuple[int, float, bool]) -> list[Point]:
    """The part of ``polygon`` on one side of an axis-parallel line.

    ``keep = (axis, value, above)``: keep points whose coordinate ``axis`` is
    ``>= value`` (``above``) or ``<= value``.
    """
    axis, value, above = keep

    def inside(p: Point) -> bool:
        return p[axis] >= value if above else p[axis] <= value

    out: list[Point] = []
    for current, following in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if inside(current):
            out.append(current)
        if inside(current) != inside(following):
            t = (value - current[axis]) / (following[axis] - current[axis])
            out.append((current[0] + t * (following[0] - current[0]),
                        current[1] + t * (following[1] - current[1])))
    return out


def _box_overlap_area(box: BBox, polygon: Sequence[Point]) -> float:
    """Area of ``box`` ∩ ``polygon``."""
    clipped = list(polygon)
    for keep in ((0, box.x1, True), (0, box.x2, False), (1, box.y1, True), (1, box.y2, False)):
        clipped = _clip(clipped, keep)
        if not clipped:
            return 0.0
    return polygon_area(clipped)


@dataclass(frozen=True, slots=True)
class Zone:
    """A region of the source frame, in pixels.

    Attributes:
        points: The polygon's corners, ``(x, y)`` in source pixels (a box has four).
        min_overlap: ``None``: a detection is in the zone when its box centre is;
            a number in (0, 1]: when at least this share of its box area is.

    Raises:
        ConfigError: Fewer than three points, a non-finite coordinate, a zone with
            no area, or ``min_overlap`` outside (0, 1].
    """

    points: tuple[Point, ...]
    min_overlap: float | None = None

    def __post_init__(self) -> None:
        points = tuple((float(x), float(y)) for x, y in self.points)
        object.__setattr__(self, "points", points)
        if len(points) < 3:
            raise ConfigError(f"a zone needs at least 3 points, got {len(points)}")
        if not all(math.isfinite(v) for p in points for v in p):
            raise ConfigError(f"zone coordinates must be finite numbers, got {list(points)}")
        if polygon_area(points) <= 0:
            raise ConfigError(f"the zone {self.text} has no area")
        if self.min_overlap is not None and not 0 < self.min_overlap <= 1:
            raise ConfigError(f"a zone's minimum overlap must be in (0, 1], got {self.min_overlap}")

    @classmethod
    def box(cls, x1: float, y1: float, x2: float, y2: float,
            min_overlap: float | None = None) -> Zone:
        """The box with corners ``(x1, y1)`` top-left and ``(x2, y2)`` bottom-right."""
        if not (x2 > x1 and y2 > y1):
            raise ConfigError(f"a zone box needs x2 > x1 and y2 > y1, got {x1:g},{y1:g},{x2:g},{y2:g}")
        return cls(((x1, y1), (x2, y1), (x2, y2), (x1, y2)), min_overlap)

    @classmethod
    def parse(cls, text: str, min_overlap: float | None = None) -> Zone:
        """``"x1,y1,x2,y2"`` (a box) or ``"x1,y1 x2,y2 x3,y3 ..."`` (a polygon).

        Points of a polygon are separated by spaces or ``;``.

        Raises:
            ConfigError: Neither form, or a bad zone (see the class).
        """
        spec = text.strip()
        groups = [g for g in re.split(r"[;\s]+", spec) if g]
        try:
            if len(groups) == 1:
                values = [float(v) for v in groups[0].split(",")]
                if len(values) == 4:
                    return cls.box(*values, min_overlap=min_overlap)
            elif len(groups) >= 3:
                points = [tuple(float(v) for v in g.split(",")) for g in groups]
                if all(len(p) == 2 for p in points):
                    return cls(tuple(points), min_overlap)  # type: ignore[arg-type]
        except ValueError:
            pass
        raise ConfigError(f"zone {text!r}: give a box 'x1,y1,x2,y2' or a polygon "
                          "'x1,y1 x2,y2 x3,y3 ...' in source pixels")

    @property
    def text(self) -> str:
        """The zone as :meth:`parse` reads it."""
        return " ".join(f"{x:g},{y:g}" for x, y in self.points)

    def contains(self, box: BBox) -> bool:
        """Whether a detection with ``box`` counts as inside the zone."""
        if self.min_overlap is None:
            return _inside(((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2), self.points)
        area = max(0.0, box.width) * max(0.0, box.height)
        if area <= 0:
            return _inside((box.x1, box.y1), self.points)
        return _box_overlap_area(box, self.points) >= self.min_overlap * area - 1e-9
