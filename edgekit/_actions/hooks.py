"""``StreamActions``: what a stream does for its rules and action sinks, between two frames.

On the stream's thread, after each result: the rules are updated (a few
comparisons), each event they cause is handed to the sinks that name files
(:meth:`Snapshots.announce`), then goes to every sink with the frame that
caused it. Events that sinks report themselves (``storage_full``,
``capture_full``) are collected each loop and sent on like the source's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from ..results import FrameResult, StreamEvent
from .rules import Rule, RuleSet

__all__ = ["StreamActions"]


class StreamActions:
    """The rules of a stream and the hooks of its sinks.

    Args:
        rules: Rules already bound to the model (see :func:`~.rules.bind_rules`).
        sinks: The stream's sinks (queued or not); those with ``announce(event)``
            name files in rule events, those with ``drain_events()`` report events.
    """

    def __init__(self, rules: Sequence[Rule], sinks: Iterable[Any]) -> None:
        self.rules = RuleSet(rules) if rules else None
        inner = [getattr(sink, "inner", sink) for sink in sinks]
        self._announcers = [s for s in inner if callable(getattr(s, "announce", None))]
        self._reporters = [s for s in inner if callable(getattr(s, "drain_events", None))]

    @property
    def active(self) -> dict[str, bool]:
        """``{rule name: on}`` now (empty without rules)."""
        return self.rules.active if self.rules else {}

    def update(self, result: FrameResult) -> list[StreamEvent]:
        """The rule events ``result`` causes, with the files they will produce named."""
        if self.rules is None:
            return []
        events = self.rules.update(result)
        for announcer in self._announcers:
            events = [announcer.announce(event) for event in events]
        return events

    def reported(self, source: str) -> list[StreamEvent]:
        """Events the sinks reported since the last call, as coming from ``source``."""
        out = []
        for sink in self._reporters:
            out += [dataclasses.replace(e, source=source) for e in sink.drain_events()]
        return out
