"""The rule state machine: N of M to turn on, M misses to turn off, cooldown, zones, events."""

from __future__ import annotations

from edgekit import BBox, Rule, Zone
from edgekit._actions.rules import RuleSet
from edgekit.results import Classification, Detection, FrameResult, Prediction


def _classified(frame: int, label: str, score: float, ts: float | None = None) -> FrameResult:
    pred = Prediction("classify", (Classification(0, label, score), Classification(1, "other", 1 - score)))
    return FrameResult(frame, float(frame) if ts is None else ts, "test", pred)


def _detected(frame: int, boxes: list[tuple[str, float, BBox]]) -> FrameResult:
    dets = tuple(Detection(i, label, score, box) for i, (label, score, box) in enumerate(boxes))
    return FrameResult(frame, float(frame), "test", Prediction("detect", detections=dets))


def _run(rule: Rule, seen: list[bool], ts_step: float = 1.0) -> list[tuple[int, str]]:
    rules = RuleSet([rule])
    out = []
    for i, hit in enumerate(seen):
        result = _classified(i, "cat" if hit else "dog", 0.9, ts=i * ts_step)
        out += [(e.frame, e.state) for e in rules.update(result)]
    return out


def test_a_rule_turns_on_at_the_nth_match_of_m_frames_and_off_after_m_misses() -> None:
    seen = [True, False, True, True, False, False, False, False, False, True]
    #        0      1      2     3=on                                 8: 5 misses → off
    assert _run(Rule("cat", hits=3, window=5), seen) == [(3, "on"), (8, "off")]


def test_a_hold_fires_once_and_again_only_after_the_label_went_away() -> None:
    # The sequence examples/trigger_command.py was written against (its own class before Rule).
    seen = [True, False, True, True, True, True, False, False, False, False, False, True, True, True]
    assert [f for f, state in _run(Rule("cat", hits=3, window=5), seen) if state == "on"] == [3, 13]


def test_single_spurious_or_missing_frames_change_nothing() -> None:
    assert _run(Rule("cat", hits=2, window=3), [True, False, False, True, False, False]) == []
    steady = [True] * 5 + [False] + [True] * 5
    assert _run(Rule("cat", hits=3, window=4), steady) == [(2, "on")]


def test_one_of_one_follows_every_frame() -> None:
    assert _run(Rule("cat"), [True, True, False, True]) == [(0, "on"), (2, "off"), (3, "on")]


def test_cooldown_holds_back_a_new_on_then_lets_it_through_if_it_still_holds() -> None:
    rule = Rule("cat", cooldown=5.0)
    seen = [True, False, True, True, True, True, True, True]
    # on at 0, off at 1; on again only at t=5 (cooldown from 0), the label still there
    assert _run(rule, seen) == [(0, "on"), (1, "off"), (5, "on")]
    assert _run(rule, [True, False, True, False, False, False, False, False]) == \
        [(0, "on"), (1, "off")], "gone again before the cooldown ended: no event"


def test_the_score_must_reach_the_threshold() -> None:
    rules = RuleSet([Rule("cat", min_score=0.8)])
    assert rules.update(_classified(0, "cat", 0.79)) == []
    (event,) = rules.update(_classified(1, "cat", 0.81))
    assert (event.state, event.label, event.score, event.count) == ("on", "cat", 0.81, 1)


def test_events_carry_the_frame_rule_and_what_was_seen() -> None:
    rules = RuleSet([Rule.parse("person>=0.5 for 1/2", name="door")])
    inside = [("person", 0.9, BBox(0, 0, 10, 10)), ("person", 0.7, BBox(5, 5, 20, 20)),
              ("dog", 0.99, BBox(0, 0, 5, 5))]
    (on,) = rules.update(_detected(7, inside))
    assert on.to_dict() == {"event": "rule", "ts": 7.0, "source": "test",
                            "message": "door: on (person 0.90, 2 objects)", "rule": "door",
                            "state": "on", "frame": 7, "label": "person", "score": 0.9, "count": 2}
    assert rules.update(_detected(8, [])) == []
    (off,) = rules.update(_detected(9, []))
    assert (off.state, off.count, off.score, off.message) == ("off", 0, None, "door: off (no person)")
    assert rules.active == {"door": False}


def test_only_detections_in_the_zone_count() -> None:
    zone = Zone.box(100, 100, 200, 200)
    rules = RuleSet([Rule("person", zone=zone)])
    outside = [("person", 0.9, BBox(0, 0, 50, 50))]
    assert rules.update(_detected(0, outside)) == []
    (event,) = rules.update(_detected(1, outside + [("person", 0.6, BBox(120, 120, 160, 160))]))
    assert (event.state, event.count, event.score) == ("on", 1, 0.6)


def test_rules_are_independent_and_reported_in_order() -> None:
    rules = RuleSet([Rule("cat", name="a"), Rule("cat", min_score=0.95, name="b")])
    assert [(e.rule, e.state) for e in rules.update(_classified(0, "cat", 0.99))] == [("a", "on"), ("b", "on")]
    assert [(e.rule, e.state) for e in rules.update(_classified(1, "cat", 0.9))] == [("b", "off")]
    assert rules.active == {"a": True, "b": False}
