"""``edgekit.stream``: real-time inference over a camera, a stream, a file or ``demo``.

::

    import edgekit

    with edgekit.stream("model.tflite", source=0, max_fps=10) as results:
        for r in results:                     # FrameResult, newest frame each time
            if r.classes and r.classes[0].label == "cat":
                print(r.frame, r.classes[0].score)

The model always works on the newest frame of a live source (the others are
counted as dropped); files are read frame by frame, none dropped, decoded and
pre-processed on a second thread while the model runs. Results go
to the caller, to ``on_result`` callbacks and to sinks (each behind a bounded
queue, so that a slow sink never blocks inference), with :class:`StreamStats`.
Stream events (``source_offline``, ``source_online``, ``stopped``) go to the
sinks and ``on_event`` callbacks, and are yielded too with ``events=True``.

Rules turn results into ``rule`` events the same way; actions are sinks::

    rule = edgekit.Rule.parse("person>=0.6 for 3/5", zone=edgekit.Zone.box(0, 200, 640, 480))
    edgekit.stream(model, 0, rules=[rule], sinks=[edgekit.Snapshots("events/"),
                   edgekit.Exec(["notify.sh"]), edgekit.Capture("unsure/")]).run()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from .._actions.rules import Rule, bind_rules
from ..errors import ConfigError
from ..model import Model
from ..results import FrameResult, StreamEvent
from ..sources import SourceOptions, SourceSpec
from .stream import Stream
from .updates import keeps_rules

__all__ = ["stream"]


def _check_limits(max_fps: float | None, every: int, max_frames: int | None,
                  duration: float | None, stall_timeout: float, queue_size: int) -> None:
    if max_fps is not None and max_fps <= 0:
        raise ConfigError(f"max_fps must be > 0, got {max_fps}")
    if every < 1:
        raise ConfigError(f"every must be >= 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be >= 1, got {max_frames}")
    if duration is not None and duration <= 0:
        raise ConfigError(f"duration must be > 0 s, got {duration}")
    if stall_timeout <= 0:
        raise ConfigError(f"stall_timeout must be > 0 s, got {stall_timeout}")
    if queue_size < 1:
        raise ConfigError(f"queue_size must be >= 1, got {queue_size}")


def _queue_each(sinks: list[Any], queue_size: int, queued: list[Any]) -> None:
    """Append each sink to ``queued``, behind a bounded queue (unless it already is)."""
    from ..sinks.queued import QueuedSink

    for sink in sinks:
        # Action sinks hold frames: they ask for a shorter queue (``queue_size`` attribute).
        size = min(queue_size, getattr(sink, "queue_size", None) or queue_size)
        queued.append(sink if isinstance(sink, QueuedSink) else QueuedSink(sink, maxsize=size))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def stream(
    model: Model | str | os.PathLike[str] | None = None,
    source: SourceSpec = "demo",
    *,
    sinks: Iterable[Any] = (),
    rules: Iterable[Rule | str] = (),
    on_result: Callable[[FrameResult], Any] | Iterable[Callable[[FrameResult], Any]] | None = None,
    on_event: Callable[[StreamEvent], Any] | Iterable[Callable[[StreamEvent], Any]] | None = None,
    events: bool = False,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    loop: bool = False,
    realtime: bool = False,
    max_fps: float | None = None,
    every: int = 1,
    max_frames: int | None = None,
    duration: float | None = None,
    stall_timeout: float = 5.0,
    queue_size: int = 64,
    prepare_ahead: bool = True,
    reload: bool | Any = False,
    **load_options: Any,
) -> Stream:
    """Real-time inference: the model on the newest frame of ``source``, results as they come.

    Args:
        model: A :class:`Model`, a ``.tflite`` path (loaded with ``load_options``, closed
            with the stream, also when it cannot be created or started) or ``None`` for
            the bundled default model.
        source: ``0`` (camera index), ``"/dev/video0"``, ``"picam"``, ``"demo"``, a video
            or image file, a folder, a glob, an ``rtsp://`` / ``http://`` URL, a
            :class:`~edgekit.sources.Source`, or a callable returning a fresh one.
        sinks: Objects with ``write(item, frame, stats)`` / ``close()`` (see
            :mod:`edgekit.sinks`); each is put behind a bounded queue of ``queue_size``.
            From this call on they belong to the stream: closed with it, or at once
            when it cannot be created or started. Actions are sinks too:
            :class:`~edgekit.Snapshots`, :class:`~edgekit.Exec`, :class:`~edgekit.Capture`,
            :class:`~edgekit.sinks.HomeAssistantSink`.
        rules: :class:`~edgekit.Rule`\\ s (or their text, ``"person>=0.6 for 3/5"``),
            checked against the model's labels; when one turns on or off, a ``rule``
            :class:`StreamEvent` goes to the sinks (with the frame that caused it),
            to ``on_event`` and, with ``events=True``, to the iteration.
        on_result: Called with each :class:`FrameResult` (in the stream's thread).
        on_event: Called with each :class:`StreamEvent`.
        events: Also yield the :class:`StreamEvent`\\ s when iterating.
        width, height, fps: Requested capture format (cameras, ``demo``).
        loop: Start files again at their end.
        realtime: Play files at their native frame rate, as a live source.
        max_fps: At most this many inferences per second (saves power).
        every: Infer every N-th frame only.
        max_frames: Stop after this many results.
        duration: Stop after this many seconds.
        stall_timeout: Seconds without a frame before a live source is reopened.
        queue_size: Results a sink may fall behind before its oldest is dropped.
        prepare_ahead: For files, pre-process on the reader thread while the model
            runs (``False``: on the stream's thread). Live sources always
            pre-process only the frame the model takes, on the stream's thread.
        reload: Live model updates: watch the model's file and, when it is replaced,
            load the new one beside the running one and swap it in between two
            frames (a ``model_changed`` event; a file that does not load is a
            ``model_rejected`` event with the reason, and the old model keeps running).
            :meth:`Stream.reload` asks for one. The new model is loaded with the
            same options (and checks: a pinned ``sha256`` must then be sent with
            :meth:`Stream.reload`).
        **load_options: Passed to :func:`edgekit.load` when ``model`` is a path.

    Returns:
        A :class:`Stream`: iterate it, or use it as a context manager, or call ``run()``.

    Raises:
        ConfigError: A limit or option is out of range, or a rule names a label the
            model does not have (the message lists its labels).
        SourceOpenError: The source names nothing that exists (a camera or stream
            that cannot be opened raises it when the stream starts).
        ModelError: ``model`` is a path that cannot be loaded.
    """
    given = list(sinks)
    queued: list[Any] = []
    loaded: Model | None = model if isinstance(model, Model) else None
    own = loaded is None
    try:
        _check_limits(max_fps, every, max_frames, duration, stall_timeout, queue_size)
        options = SourceOptions(width=width, height=height, fps=fps, loop=loop, realtime=realtime,
                                timeout=stall_timeout)
        if own:
            from ..model import default_model_path, load

            loaded = load(default_model_path() if model is None else model, **load_options)  # type: ignore[arg-type]
        elif load_options:
            raise ConfigError(f"load options {sorted(load_options)} need a model path, not a loaded Model")
        bound = bind_rules(rules, loaded.labels, loaded.task)  # type: ignore[union-attr]
        reloader = _reloader(reload, loaded, load_options if own else None, bound)  # type: ignore[arg-type]
        _queue_each(given, queue_size, queued)
        return Stream(loaded, source, own_model=own, sinks=queued, rules=bound,  # type: ignore[arg-type]
                      on_result=_as_list(on_result), on_event=_as_list(on_event), events=events,
                      source_options=options, max_fps=max_fps, every=every,
                      max_frames=max_frames, duration=duration, stall_timeout=stall_timeout,
                      prepare_ahead=prepare_ahead,
                      reloader=reloader)
    except BaseException:
        _abandon(queued + given[len(queued):], loaded if own else None)
        raise


def _reloader(reload: bool | Any, model: Model, load_options: dict[str, Any] | None,
              rules: tuple[Rule, ...]) -> Any:
    """The :class:`~edgekit._reload.reloader.ModelReloader` ``reload`` asks for, or ``None``."""
    if reload is False or reload is None:
        return None
    if reload is not True:
        return reload  # made by the caller (the CLI: its loader, MQTT commands, SIGHUP)
    from .._reload.reloader import ModelReloader, loader_like

    path = model.info.source
    if not os.path.isfile(path):
        raise ConfigError(f"reload needs a model loaded from a file, not {path}")
    loader = loader_like(model)
    if load_options is not None:  # loaded here: the next ones with the same options
        from ..model import load

        options = {k: v for k, v in load_options.items() if k != "sha256"}
        loader = lambda p, sha: load(p, sha256=sha, **options)  # noqa: E731
    pinned = bool(load_options and load_options.get("sha256"))
    return ModelReloader(path, model.info.sha256, loader, pinned=pinned, prepare=keeps_rules(rules))


def _abandon(sinks: list[Any], model: Model | None) -> None:
    """Release what a stream that could not be created would have owned."""
    if sinks:
        from ..sinks.queued import close_sinks

        close_sinks(sinks)
    if model is not None:
        model.close()
