"""The stream's side of live model updates: swap between two frames, nothing lost.

The :class:`~edgekit._reload.reloader.ModelReloader` loads a new model on its own
thread; the stream asks :meth:`ModelUpdates.poll` before each frame and, when one is
ready, runs the next frame on it. The frame in hand finishes on the old model, so
every frame is inferred once. Frames a file reader pre-processed ahead for the old
model are pre-processed again when the input format changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._actions.rules import Rule, bind_rules
from ..errors import ConfigError
from ..model import Model
from ..results import StreamEvent
from ..sources.capture import PREFETCH

__all__ = ["ModelUpdates", "keeps_rules"]


def keeps_rules(rules: Sequence[Rule]) -> Callable[[Model], None] | None:
    """A check for a new model: the stream's rules must still find their labels in it.

    Raises (from the returned check):
        ConfigError: A label the new model does not have (the message lists its labels),
            or one it spells another way.
    """
    if not rules:
        return None

    def check(model: Model) -> None:
        rebound = bind_rules(rules, model.labels, model.task)
        if rebound != tuple(rules):
            changed = next(r.label for r, n in zip(rules, rebound) if r.label != n.label)
            raise ConfigError(f"the rules watch {changed!r}, which the new model spells another way")

    return check


class ModelUpdates:
    """Swaps the stream's model for the reloader's new ones.

    Args:
        reloader: A :class:`~edgekit._reload.reloader.ModelReloader`, or ``None``
            (no live updates: every call is a no-op).
        original: The model the stream started with.
        own_original: Whether the stream owns it (else it stays the caller's:
            never closed here, even once replaced).
    """

    def __init__(self, reloader: Any, original: Model, own_original: bool) -> None:
        self.reloader = reloader
        self._original, self._own_original = original, own_original
        self._reprepare = 0

    def start(self) -> None:
        if self.reloader is not None:
            self.reloader.start()

    def poll(self, current: Model, source: str) -> tuple[Model, list[StreamEvent]]:
        """The model to run from now on, and the events to report (``model_changed``/``_rejected``)."""
        if self.reloader is None:
            return current, []
        events = self.reloader.drain_events(source)
        swap = self.reloader.take()
        if swap is None:
            return current, events
        new = swap.model
        if current.input_format != new.input_format or current.inputs != new.inputs:
            # A file reader may hold up to PREFETCH frames (and one in hand) pre-processed
            # for the old model: those are pre-processed again.
            self._reprepare = PREFETCH + 1
        self._release(current)
        return new, [*events, swap.event(source)]

    def stale(self) -> bool:
        """Whether the next tensor pre-processed ahead may be the old model's (call once per tensor)."""
        if not self._reprepare:
            return False
        self._reprepare -= 1
        return True

    def close(self, current: Model) -> None:
        """Stop the reloader; close ``current`` unless it is the caller's."""
        if self.reloader is not None:
            self.reloader.close()
        self._release(current)

    def _release(self, model: Model) -> None:
        if self._own_original or model is not self._original:
            model.close()
