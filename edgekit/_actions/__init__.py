"""Acting on what the model sees: rules and zones, snapshots and clips, commands, capture.

:class:`~.rules.Rule` objects turn results into ``rule`` events on the stream's
thread (cheap, pure); everything that touches the disk or other processes —
:class:`~.snapshots.Snapshots`, :class:`~.execute.Exec`, :class:`~.capture.Capture`
— is a sink, behind the stream's bounded queues, so it never holds up inference.
:class:`~.hooks.StreamActions` is what a stream uses to tie them together.
"""

from __future__ import annotations

from .capture import Capture
from .clips import Clips
from .execute import Exec
from .rules import Rule
from .snapshots import Snapshots
from .storage import Retention
from .zones import Zone

__all__ = ["Capture", "Clips", "Exec", "Retention", "Rule", "Snapshots", "Zone"]
