"""Rules and zones as text and as geometry: parsing, checking against a model, containment."""

from __future__ import annotations

import pytest

import edgekit
from edgekit import BBox, Rule, Zone
from edgekit._actions.rules import bind_rules, slug
from edgekit._actions.zones import polygon_area
from edgekit.errors import ConfigError

COCO = ("person", "bicycle", "car", "traffic light", "dog")


@pytest.mark.parametrize(("text", "label", "score", "hits", "window"), [
    ("person>=0.6 for 3/5", "person", 0.6, 3, 5),
    ("  person >= 0.6   for 3 / 5 ", "person", 0.6, 3, 5),
    ("traffic light>=0.45", "traffic light", 0.45, 1, 1),
    ("dog for 2/4", "dog", 0.5, 2, 4),
    ("car", "car", 0.5, 1, 1),
])
def test_rule_text_gives_label_score_and_n_of_m(text: str, label: str, score: float, hits: int,
                                                window: int) -> None:
    rule = Rule.parse(text)
    assert (rule.label, rule.min_score, rule.hits, rule.window) == (label, score, hits, window)
    assert Rule.parse(rule.text) == rule, "the text form reads back to the same rule"


@pytest.mark.parametrize(("text", "message"), [
    ("person>0.6", r"write LABEL>=SCORE \[for N/M\]"),
    ("person>=high", r"'high' is not a score"),
    ("person>=1.5", r"score must be in \[0, 1\], got 1.5"),
    ("person>=nan", r"score must be in \[0, 1\]"),
    ("person>=0.5 for 6/5", r"N of N/M must be in 1..M, got 6/5"),
    ("person>=0.5 for 0/5", r"N of N/M must be in 1..M, got 0/5"),
    ("person>=0.5 for 1/5000", r"window M of N/M must be in 1..1000"),
    (">=0.5", r"write LABEL>=SCORE"),
])
def test_bad_rule_text_is_a_config_error_saying_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Rule.parse(text)


def test_a_negative_cooldown_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"cooldown must be >= 0 s, got -1"):
        Rule("person", cooldown=-1)


def test_binding_spells_labels_as_the_model_does_and_takes_class_ids() -> None:
    bound = bind_rules(["PERSON>=0.5", "2>=0.5", Rule.parse("Traffic Light")], COCO, "detect")
    assert [r.label for r in bound] == ["person", "car", "traffic light"]


def test_a_label_the_model_does_not_have_is_an_error_listing_its_labels() -> None:
    with pytest.raises(ConfigError) as info:
        bind_rules(["persn>=0.6"], COCO, "detect")
    message = str(info.value)
    assert "the model has no label 'persn' (did you mean 'person'?)" in message
    assert message.endswith("its labels: person, bicycle, car, traffic light, dog")


def test_a_long_label_list_is_shortened_in_the_message() -> None:
    labels = tuple(f"class{i}" for i in range(80))
    with pytest.raises(ConfigError, match=r"class49 … \(30 more\)$"):
        bind_rules(["zebra"], labels, "classify")


def test_a_model_without_labels_takes_class_ids_only() -> None:
    assert bind_rules(["0>=0.5"], (), "detect")[0].label == "0"
    with pytest.raises(ConfigError, match=r"the model has no labels; name classes by id"):
        bind_rules(["red"], (), "detect")


def test_zones_need_a_detector_and_rules_need_classes() -> None:
    zoned = Rule("cat", zone=Zone.box(0, 0, 10, 10))
    with pytest.raises(ConfigError, match=r"zones need a detection model \(this one does classify\)"):
        bind_rules([zoned], ("cat", "dog"), "classify")
    with pytest.raises(ConfigError, match=r"the model's task is 'raw'; rules need a classifier or a detector"):
        bind_rules(["cat"], ("cat",), "raw")


def test_two_rules_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"two rules have the same name 'dog>=0.5'"):
        bind_rules(["dog", "DOG>=0.5"], COCO, "detect")
    assert len(bind_rules(["dog", Rule("DOG", name="big dog")], COCO, "detect")) == 2


def test_slug_is_safe_for_topics_and_file_names() -> None:
    assert slug("person>=0.6 for 3/5") == "person_0_6_for_3_5"
    assert slug("../../etc") == "etc" and slug("★") == "rule"


def test_zone_text_forms() -> None:
    assert Zone.parse("10,20,110,220").points == ((10, 20), (110, 20), (110, 220), (10, 220))
    tri = Zone.parse("0,0 100,0 0,100")
    assert tri.points == ((0, 0), (100, 0), (0, 100))
    assert Zone.parse("0,0;100,0;0,100") == tri
    assert Zone.parse(tri.text) == tri


@pytest.mark.parametrize(("text", "message"), [
    ("10,20,5,30", r"x2 > x1 and y2 > y1"),
    ("0,0 10,10", r"give a box 'x1,y1,x2,y2' or a polygon"),
    ("a,b,c,d", r"give a box"),
    ("0,0 10,10 20,20", r"has no area"),
    ("0,0 inf,0 0,10", r"must be finite"),
])
def test_bad_zones_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Zone.parse(text)


def test_min_overlap_must_be_a_share() -> None:
    with pytest.raises(ConfigError, match=r"minimum overlap must be in \(0, 1\], got 1.5"):
        Zone.parse("0,0,10,10", min_overlap=1.5)


def test_polygon_area_by_shoelace() -> None:
    assert polygon_area(((0, 0), (4, 0), (4, 3))) == 6
    ell = ((0, 0), (4, 0), (4, 1), (1, 1), (1, 4), (0, 4))  # an L, concave
    assert polygon_area(ell) == 7


def test_centre_test_looks_at_the_box_centre_only() -> None:
    zone = Zone.box(0, 0, 100, 100)
    assert zone.contains(BBox(60, 60, 130, 130))  # centre (95, 95) inside, most of the box outside
    assert not zone.contains(BBox(80, 80, 200, 200))  # centre (140, 140) outside


@pytest.mark.parametrize(("box", "share"), [
    (BBox(50, 0, 150, 100), 0.5),      # half of it in the square
    (BBox(0, 0, 100, 100), 1.0),
    (BBox(100, 100, 200, 200), 0.0),   # touching at a corner only
    (BBox(-50, -50, 50, 50), 0.25),
])
def test_overlap_test_measures_the_share_of_the_box_inside(box: BBox, share: float) -> None:
    square = Zone.box(0, 0, 100, 100)
    below = Zone.box(0, 0, 100, 100, min_overlap=max(share - 0.01, 0.001))
    above = Zone.box(0, 0, 100, 100, min_overlap=min(share + 0.01, 1.0))
    assert below.contains(box) == (share > 0)
    assert not above.contains(box) or share == 1.0
    assert square.min_overlap is None


def test_overlap_with_a_concave_polygon_counts_only_the_inside_part() -> None:
    ell = Zone(((0, 0), (40, 0), (40, 10), (10, 10), (10, 40), (0, 40)), min_overlap=0.4)
    # The box 0..20 × 0..20 has 400 px²; the L covers 20×10 + 10×10 = 300 of them (75 %).
    assert ell.contains(BBox(0, 0, 20, 20))
    # 10..30 × 10..30 lies in the L's notch: nothing of it is inside.
    assert not Zone(ell.points, min_overlap=0.01).contains(BBox(10, 10, 30, 30))
    # centre test on the same polygon: (20, 20) is in the notch, outside.
    assert not Zone(ell.points).contains(BBox(0, 0, 40, 40))


def test_rule_and_zone_are_public_and_frozen() -> None:
    assert edgekit.Rule is Rule and edgekit.Zone is Zone
    with pytest.raises(AttributeError):
        Rule.parse("dog").label = "cat"  # type: ignore[misc]
