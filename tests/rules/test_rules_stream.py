"""Rules in ``edgekit.stream`` with real models: events in every output, zones on a real detector."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from detect_models import CELL, paint_cells
from streamkit import RecordingSink

import edgekit
from edgekit import Rule, StreamEvent, Zone
from edgekit.errors import ConfigError
from edgekit.sources import DemoSource


def _square_frames(folder: Path, cells: list[tuple[int, int] | None]) -> Path:
    """320×320 grey frames, each with one red grid cell painted (or none), as numbered PNGs."""
    folder.mkdir()
    for i, cell in enumerate(cells):
        image = np.full((320, 320, 3), 110, np.uint8)
        if cell is not None:
            paint_cells(image, [cell], "stretch")
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    return folder


def _events(items: list) -> list[StreamEvent]:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, StreamEvent) and i.event == "rule"]


def test_rules_on_the_demo_digits_fire_when_one_shows_and_end_when_it_goes(default_model: Path) -> None:
    demo = DemoSource(fps=60, period=0.5)
    rules = [f"{digit}>=0.6 for 3/5" for digit in range(10)]  # the bundled model's labels: '0' … '9'
    sink, called = RecordingSink(), []
    with edgekit.load(default_model) as model:
        items = list(edgekit.stream(model, demo, rules=rules, sinks=[sink], on_event=called.append,
                                    events=True, duration=3.0))
    events = _events(items)
    results = {i.frame: i for i in items if isinstance(i, edgekit.FrameResult)}
    ons = [e for e in events if e.state == "on"]
    offs = [e for e in events if e.state == "off"]
    assert len(ons) >= 3 and len(offs) >= 2, [e.message for e in events]
    for on in ons:
        assert on.label == str(demo.label_at(on.frame)) and on.score >= 0.6
        assert results[on.frame].classes[0].label == on.label
        assert items.index(on) == items.index(results[on.frame]) + 1, "an event follows its result"
    for off in offs:
        assert demo.label_at(off.frame) != int(off.label), "off once another digit is shown"
        assert any(e.rule == off.rule and e.frame < off.frame for e in ons), "off follows an on"
    assert [e for e in called if e.event == "rule"] == events
    written = [(item, frame) for item, frame in zip(sink.items, sink.frames, strict=True)
               if isinstance(item, StreamEvent) and item.event == "rule"]
    assert [w[0] for w in written] == events
    assert all(frame is not None and frame.shape == (240, 320, 3) for _, frame in written), \
        "sinks get the frame that changed the rule"


def test_a_rule_naming_a_label_the_model_lacks_fails_at_start_and_closes_the_sinks(
        digits_model: Path) -> None:
    sink = RecordingSink()
    with edgekit.load(digits_model) as model, pytest.raises(ConfigError) as info:
        edgekit.stream(model, "demo", rules=["7>=0.5", "person>=0.5"], sinks=[sink])
    assert "rule 'person>=0.5': the model has no label 'person'" in str(info.value)
    assert "its labels: zero, one, two, three, four, five, six, seven, eight, nine" in str(info.value)
    assert sink.closed


@pytest.mark.parametrize(("rule", "expected"), [
    (Rule("red", zone=Zone.box(192, 192, 320, 320)), [(5, "on"), (10, "off")]),
    (Rule("red", hits=2, window=3, zone=Zone.box(192, 192, 320, 320)), [(6, "on"), (12, "off")]),
    (Rule("red", zone=Zone.box(0, 0, 320, 320)), [(0, "on"), (10, "off")]),
])
def test_a_real_detector_fires_when_the_square_enters_the_zone(tmp_path: Path, red_detector: Path,
                                                               rule: Rule, expected: list) -> None:  # type: ignore[type-arg]
    frames = _square_frames(tmp_path / "frames", [(2, 2)] * 5 + [(7, 7)] * 5 + [None] * 5)
    with edgekit.load(red_detector, labels=["red"]) as model:
        items = list(edgekit.stream(model, str(frames), rules=[rule], events=True))
    assert [(e.frame, e.state) for e in _events(items)] == expected


def test_overlap_zones_count_a_box_by_the_share_inside(tmp_path: Path, red_detector: Path) -> None:
    # Cell (5, 5) spans x 160..192; a zone from x=184 holds a quarter of it and not its centre.
    frames = _square_frames(tmp_path / "frames", [(5, 5)] * 3)
    assert 5 * CELL == 160
    rules = [Rule("red", zone=Zone.box(184, 0, 320, 320), name="centre"),
             Rule("red", zone=Zone.box(184, 0, 320, 320, min_overlap=0.2), name="a fifth"),
             Rule("red", zone=Zone.box(184, 0, 320, 320, min_overlap=0.3), name="a third")]
    with edgekit.load(red_detector, labels=["red"]) as model:
        items = list(edgekit.stream(model, str(frames), rules=rules, events=True))
    assert [(e.rule, e.state) for e in _events(items)] == [("a fifth", "on")]


def test_the_stream_says_which_rules_are_on(tmp_path: Path, red_detector: Path) -> None:
    frames = _square_frames(tmp_path / "frames", [(1, 1)] * 4)
    with edgekit.load(red_detector, labels=["red"]) as model:
        running = edgekit.stream(model, str(frames), rules=["red>=0.5", Rule("red", min_score=1.0)])
        seen = [running.rules for _ in running]
    assert seen[-1] == {"red>=0.5": True, "red>=1": False}
