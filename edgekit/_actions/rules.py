"""Rules: ``label>=score for N/M`` in a zone, with a cooldown, turned into on/off events.

A rule *matches* a frame when the label is there with at least the score (a
class of a classifier's result; for a detector, at least one detection of the
label, in the zone if there is one). It turns **on** when at least N of the last
M frames matched, and **off** when none of the last M did, so a single missed
or spurious frame changes nothing. After an ``on`` it does not turn on again
for ``cooldown`` seconds (of capture time): while that runs it stays off even if
the label holds, and turns on once the cooldown is over if it still holds.

Everything here is pure and cheap (a few comparisons per detection): it runs on
the stream's thread, between two frames.
"""

from __future__ import annotations

import collections
import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..errors import ConfigError
from ..results import FrameResult, Prediction, StreamEvent
from .zones import Zone

__all__ = ["Rule", "RuleSet", "bind_rules", "slug"]

DEFAULT_SCORE = 0.5
MAX_WINDOW = 1000
_RULE = re.compile(r"^\s*(?P<label>.+?)\s*(?:>=\s*(?P<score>[^\s]+))?"
                   r"(?:\s+for\s+(?P<hits>\d+)\s*/\s*(?P<window>\d+))?\s*$")


def slug(text: str) -> str:
    """``text`` as an identifier of ``[a-z0-9_]`` (MQTT topics, Home Assistant ids, file names)."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return out or "rule"


@dataclass(frozen=True, slots=True)
class Rule:
    """When to act: ``label`` with at least ``min_score`` in ``hits`` of the last ``window`` frames.

    Attributes:
        label: A label of the model (or a class id, for models without labels).
        min_score: Score the label needs in a frame, in [0, 1].
        hits, window: N of the last M frames must match to turn on (``1/1``: every frame).
        zone: Only detections in this :class:`Zone` count (detection models only).
        cooldown: Seconds after an ``on`` before the rule may turn on again.
        name: How events and Home Assistant name the rule (default: :attr:`text`).

    Raises:
        ConfigError: A value out of range (see :meth:`parse` for the text form).
    """

    label: str
    min_score: float = DEFAULT_SCORE
    hits: int = 1
    window: int = 1
    zone: Zone | None = None
    cooldown: float = 0.0
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.label.strip():
            raise ConfigError("a rule needs a label")
        if not (math.isfinite(self.min_score) and 0.0 <= self.min_score <= 1.0):
            raise ConfigError(f"rule {self.label!r}: the score must be in [0, 1], got {self.min_score}")
        if not 1 <= self.window <= MAX_WINDOW:
            raise ConfigError(f"rule {self.label!r}: the window M of N/M must be in 1..{MAX_WINDOW}, "
                              f"got {self.window}")
        if not 1 <= self.hits <= self.window:
            raise ConfigError(f"rule {self.label!r}: N of N/M must be in 1..M, got {self.hits}/{self.window}")
        if not (math.isfinite(self.cooldown) and self.cooldown >= 0):
            raise ConfigError(f"rule {self.label!r}: the cooldown must be >= 0 s, got {self.cooldown}")

    @classmethod
    def parse(cls, text: str, *, zone: Zone | None = None, cooldown: float = 0.0,
              name: str | None = None) -> Rule:
        """Read ``"LABEL[>=SCORE] [for N/M]"``, e.g. ``"person>=0.6 for 3/5"``.

        Without ``>=SCORE`` the score is 0.5; without ``for N/M`` one frame is enough.

        Raises:
            ConfigError: The text has another form, or a value is out of range.
        """
        found = _RULE.match(text)
        if not found or ">" in found["label"] or "=" in found["label"]:
            raise ConfigError(f"rule {text!r}: write LABEL>=SCORE [for N/M], e.g. 'person>=0.6 for 3/5'")
        try:
            score = float(found["score"]) if found["score"] is not None else DEFAULT_SCORE
        except ValueError:
            raise ConfigError(f"rule {text!r}: {found['score']!r} is not a score in [0, 1]") from None
        hits = int(found["hits"]) if found["hits"] else 1
        window = int(found["window"]) if found["window"] else 1
        return cls(found["label"].strip(), score, hits, window, zone, cooldown, name)

    @property
    def text(self) -> str:
        """The rule as :meth:`parse` reads it (without zone and cooldown)."""
        out = f"{self.label}>={self.min_score:g}"
        return out + (f" for {self.hits}/{self.window}" if self.window > 1 else "")

    @property
    def title(self) -> str:
        """The rule's name: ``name`` if given, else :attr:`text`."""
        return self.name or self.text

    def match(self, prediction: Prediction) -> tuple[bool, float | None, int]:
        """Whether one prediction matches: ``(matched, best score, count)`` of the label."""
        if prediction.task == "classify":
            for cls in prediction.classes:
                if _name(cls.label, cls.id) == self.label:
                    hit = cls.score >= self.min_score
                    return hit, cls.score, int(hit)
            return False, None, 0
        scores = [d.score for d in prediction.detections
                  if _name(d.label, d.id) == self.label and d.score >= self.min_score
                  and (self.zone is None or self.zone.contains(d.box))]
        return bool(scores), max(scores, default=None), len(scores)


def _name(label: str | None, ident: int) -> str:
    return label if label is not None else str(ident)


def bind_rules(rules: Iterable[Rule | str], labels: Sequence[str], task: str) -> tuple[Rule, ...]:
    """Check ``rules`` against a model; return them with labels spelled as the model does.

    A label matches case-insensitively; with a model that has labels, a class id
    (``"0"``) stands for its label; a model without labels takes class ids.

    Raises:
        ConfigError: A label the model does not have (the message lists the model's
            labels), a zone on a model that is not a detector, a model with no
            classes (raw outputs), or two rules with the same name.
    """
    bound = []
    for rule in rules:
        rule = Rule.parse(rule) if isinstance(rule, str) else rule
        if task not in ("classify", "detect"):
            raise ConfigError(f"rule {rule.title!r}: the model's task is {task!r}; rules need a "
                              "classifier or a detector")
        if rule.zone is not None and task != "detect":
            raise ConfigError(f"rule {rule.title!r}: zones need a detection model (this one does {task})")
        bound.append(replace(rule, label=_model_label(rule, labels)))
    titles = [r.title for r in bound]
    doubles = sorted({t for t in titles if titles.count(t) > 1})
    if doubles:
        raise ConfigError(f"two rules have the same name {doubles[0]!r}; give them different names")
    return tuple(bound)


def _model_label(rule: Rule, labels: Sequence[str]) -> str:
    wanted = rule.label.strip()
    if not labels:
        if wanted.isdigit():
            return str(int(wanted))
        raise ConfigError(f"rule {rule.title!r}: the model has no labels; name classes by id "
                          "(e.g. '0>=0.5'), or give the model a labels file")
    lowered = {label.lower(): label for label in labels}
    if wanted.lower() in lowered:
        return lowered[wanted.lower()]
    if wanted.isdigit() and int(wanted) < len(labels):
        return labels[int(wanted)]
    close = difflib.get_close_matches(wanted, list(labels), n=3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    shown = ", ".join(labels[:50]) + (f" … ({len(labels) - 50} more)" if len(labels) > 50 else "")
    raise ConfigError(f"rule {rule.title!r}: the model has no label {wanted!r}{hint}; "
                      f"its labels: {shown}")


class _State:
    """One rule's memory: the last M matches, whether it is on, when it last turned on."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.recent: collections.deque[bool] = collections.deque(maxlen=rule.window)
        self.on = False
        self.last_on = -math.inf

    def step(self, matched: bool, ts: float) -> str | None:
        """Record one frame; ``"on"`` / ``"off"`` when the rule changes state, else ``None``."""
        self.recent.append(matched)
        if not self.on:
            if sum(self.recent) >= self.rule.hits and ts - self.last_on >= self.rule.cooldown:
                self.on, self.last_on = True, ts
                return "on"
        elif not any(self.recent):
            self.on = False
            return "off"
        return None


class RuleSet:
    """Turns a stream's results into rule events (see the module docstring).

    Args:
        rules: Rules bound to the model (see :func:`bind_rules`).
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._states = [_State(rule) for rule in self.rules]

    @property
    def active(self) -> dict[str, bool]:
        """``{rule name: on}`` now."""
        return {s.rule.title: s.on for s in self._states}

    def update(self, result: FrameResult) -> list[StreamEvent]:
        """Feed one result; return the events it caused (in rule order)."""
        events = []
        for state in self._states:
            matched, score, count = state.rule.match(result.prediction)
            change = state.step(matched, result.ts)
            if change is not None:
                events.append(_event(state.rule, change, result, score, count))
        return events


def _event(rule: Rule, state: str, result: FrameResult, score: float | None, count: int) -> StreamEvent:
    seen = f"{rule.label} {score:.2f}" + (f", {count} objects" if count > 1 else "") \
        if score is not None else f"no {rule.label}"
    return StreamEvent("rule", result.ts, result.source, f"{rule.title}: {state} ({seen})",
                       rule=rule.title, state=state, frame=result.frame, label=rule.label,
                       score=score, count=count)
