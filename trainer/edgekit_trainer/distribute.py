"""Where a training runs: one process or a cluster of workers, and which of them writes.

Multi-worker training is TensorFlow's own ``MultiWorkerMirroredStrategy``; this module
only sets it up and keeps its failures readable:

- ``TF_CONFIG`` is read and checked here before TensorFlow starts (:func:`this_worker`),
  so a typo is one :class:`~edgekit.errors.ConfigError`, and a port another process holds
  is one :class:`ClusterError`, both at once.
- The coordination service that MultiWorkerMirroredStrategy starts is configured with
  timeouts (:func:`make_strategy`): a worker that never comes up, or dies mid-run, ends
  every other worker with a :class:`ClusterError` within ``join_timeout`` (start) or
  :data:`HEARTBEAT_S` (mid-run) instead of a hang.
- Only the chief writes the run folder; every other worker works in a temporary folder
  that is removed when it finishes (:func:`work_dir`). All workers still save the same
  files at the same moments: saving may read variables through collective operations,
  which every worker must join.
- Keras 3 (up to at least 3.15) cannot ``fit()`` under this strategy (keras-team/keras#20585):
  :func:`fit_model` supplies the small wrapper that makes it work.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError

from .errors import ClusterError

__all__ = ["HEARTBEAT_S", "Worker", "cluster_errors", "fit_model", "make_strategy",
           "parse_tf_config", "this_worker", "work_dir"]

HEARTBEAT_S = 10  # a worker silent this long is declared lost (and the others stop)
JOBS = ("chief", "worker")
TF_CONFIG_SHAPE = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": N}}'


@dataclass(frozen=True, slots=True)
class Worker:
    """This process's place in the training.

    Attributes:
        addresses: ``host:port`` of every worker, chief first when there is one (empty
            when training in one process).
        index: This worker's position in ``addresses``.
        task: ``(type, index)`` as written in ``TF_CONFIG``.
    """

    addresses: tuple[str, ...] = ()
    index: int = 0
    task: tuple[str, int] = ("chief", 0)

    @property
    def count(self) -> int:
        return max(1, len(self.addresses))

    @property
    def chief(self) -> bool:
        """Whether this worker writes the run folder (the ``chief`` task, else worker 0)."""
        return self.index == 0

    @property
    def address(self) -> str:
        return self.addresses[self.index] if self.addresses else "local"

    def describe(self) -> str:
        if not self.addresses:
            return "one process"
        role = "chief, writes the run folder" if self.chief else "writes to a temporary folder"
        return f"worker {self.index} of {self.count} at {self.address} ({role})"


def _address(job: str, i: int, value: Any) -> str:
    host, _, port = str(value).rpartition(":")
    if not isinstance(value, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"TF_CONFIG: cluster {job}[{i}] is {value!r}, expected 'host:port' (port 1-65535)")
    return value


def _jobs(cluster: Any) -> dict[str, list[str]]:
    if not isinstance(cluster, dict) or not any(cluster.get(j) for j in JOBS):
        raise ConfigError(f"TF_CONFIG: no 'worker' (or 'chief') list in 'cluster'; expected {TF_CONFIG_SHAPE}")
    other = sorted(set(cluster) - set(JOBS))
    if other:
        raise ConfigError(f"TF_CONFIG: job {other[0]!r} is not supported; multi-worker training uses only "
                          "'chief' and 'worker'")
    jobs = {j: cluster.get(j) or [] for j in JOBS}
    for job, addresses in jobs.items():
        if not isinstance(addresses, list):
            raise ConfigError(f"TF_CONFIG: cluster {job!r} must be a list of 'host:port', got {addresses!r}")
    if len(jobs["chief"]) > 1:
        raise ConfigError(f"TF_CONFIG: {len(jobs['chief'])} chiefs; there can be at most one")
    return {job: [_address(job, i, a) for i, a in enumerate(addresses)] for job, addresses in jobs.items()}


def parse_tf_config(text: str | None) -> Worker:
    """Read and check a ``TF_CONFIG`` value (as MultiWorkerMirroredStrategy will read it).

    Raises:
        ConfigError: unset, not JSON, or not a chief/worker cluster with this task in it.
    """
    if not text or not text.strip():
        raise ConfigError(f"multi-worker training needs TF_CONFIG on every worker, e.g. {TF_CONFIG_SHAPE} "
                          "(for several devices of one machine use the 'mirrored' strategy)")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"TF_CONFIG must be a JSON object like {TF_CONFIG_SHAPE}")
    jobs = _jobs(config.get("cluster"))
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in JOBS:
        raise ConfigError(f"TF_CONFIG: 'task' must name this worker, e.g. {{\"type\": \"worker\", \"index\": 0}}; "
                          f"got {task!r}")
    kind, index = task["type"], task.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(jobs[kind]):
        raise ConfigError(f"TF_CONFIG: task index {index!r} is not in cluster {kind!r} "
                          f"(it has {len(jobs[kind])} address{'es' if len(jobs[kind]) != 1 else ''})")
    addresses = tuple(jobs["chief"] + jobs["worker"])
    if len(set(addresses)) != len(addresses):
        raise ConfigError(f"TF_CONFIG: an address appears twice in the cluster: {', '.join(addresses)}")
    return Worker(addresses, (len(jobs["chief"]) if kind == "worker" else 0) + index, (kind, index))


def check_port(worker: Worker) -> None:
    """Fail early when this worker's port is taken (TensorFlow would only say "Could not start gRPC server").

    Raises:
        ClusterError: another process listens on the port.
    """
    port = int(worker.address.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind(("", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ClusterError(f"port {port} of this worker ({worker.address} in TF_CONFIG) is already in use by "
                               "another process; free it or give this worker another port on every worker") from None


def this_worker(strategy: str, environ: dict[str, str] | None = None) -> Worker:
    """This process's role for ``strategy``: read from ``TF_CONFIG`` for ``multiworker`` only.

    Raises:
        ConfigError: ``TF_CONFIG`` is missing or malformed.
        ClusterError: this worker's port is in use.
    """
    if strategy != "multiworker":
        return Worker()
    worker = parse_tf_config((environ if environ is not None else os.environ).get("TF_CONFIG"))
    check_port(worker)
    return worker


def _configure_coordination(worker: Worker, join_timeout: float) -> None:
    """The coordination service MultiWorkerMirroredStrategy would start, with timeouts.

    The strategy configures it only when nobody has (TensorFlow 2.21,
    ``collective_all_reduce_strategy.py``); its default waits forever for a missing
    worker, with the GIL held, so not even a signal handler gets to run.
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    config = json.loads(os.environ["TF_CONFIG"])["cluster"]
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(config[job]))
            for job in JOBS if config.get(job)]
    leader = "chief" if config.get("chief") else "worker"
    ms = int(join_timeout * 1000)
    ctx = context.context()
    ctx.configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{leader}/replica:0/task:0",
        cluster_register_timeout_in_ms=ms, heartbeat_timeout_in_ms=HEARTBEAT_S * 1000,
        shutdown_barrier_timeout_in_ms=ms, coordinated_jobs=jobs)
    ctx.coordination_service.cluster_register_with_barrier = True  # the leader waits with the timeout too


def make_strategy(name: str, worker: Worker, join_timeout: float = 120.0) -> Any:
    """The ``tf.distribute`` strategy for ``name``.

    ``mirrored`` uses every GPU, else every logical CPU device; ``multiworker`` joins the
    cluster of ``worker`` (waiting up to ``join_timeout`` seconds for every worker). The
    timeouts take effect only if TensorFlow has not run anything yet in this process (as in
    ``edgekit train``); afterwards TensorFlow keeps its own, untimed, coordination.

    Raises:
        ClusterError: the cluster did not form in time, or this worker's server cannot start.
    """
    import tensorflow as tf

    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name != "multiworker":
        return tf.distribute.get_strategy()
    _configure_coordination(worker, join_timeout)
    sigterm = signal.getsignal(signal.SIGTERM)
    with cluster_errors(worker, join_timeout, joining=True):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    # TensorFlow's preemption notifier takes SIGTERM over (and ignores it); give it back,
    # so `kill` and service managers stop a worker as they stop any other process.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, sigterm if sigterm is not None else signal.SIG_DFL)
    return strategy


_NOISE = ("Graph execution error", "Detected at node", "File ", "Additional GRPC error", ":UNKNOWN:",
          "The error could be from", "[[")


def _reason(text: str) -> str:
    """The line of a TensorFlow error that says what happened (not where)."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith((" ", "\t"))]
    useful = [line for line in lines if not line.startswith(_NOISE)] or lines or ["no details"]
    return useful[0].split(" [Op:")[0].rstrip(".:")[:200]


def _peer(text: str, worker: Worker) -> str | None:
    """``"worker N at host:port"`` for the first other worker named in ``text``, if any."""
    chiefs = 1 if worker.task[0] == "chief" else worker.index - worker.task[1]
    for job, task in re.findall(r"/job:(chief|worker)(?:/replica:\d+)?/task:(\d+)", text):
        index = int(task) + (chiefs if job == "worker" else 0)
        if index != worker.index and index < len(worker.addresses):
            return f"worker {index} at {worker.addresses[index]}"
    return None


@contextlib.contextmanager
def cluster_errors(worker: Worker, join_timeout: float = 0.0, joining: bool = False) -> Iterator[None]:
    """Turn TensorFlow's cluster failures into one :class:`ClusterError` line.

    Other errors (a shape mismatch, an out-of-memory) pass through unchanged.
    """
    if not worker.addresses:
        yield
        return
    import tensorflow as tf

    lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.FailedPreconditionError, tf.errors.UnknownError)
    try:
        yield
    except lost as exc:
        text = str(getattr(exc, "message", exc))
        reason = _reason(text)
        if "gRPC server" in text:
            raise ClusterError(f"{worker.describe()}: cannot listen on {worker.address} ({reason}); "
                               "is the port in use?") from None
        if joining:
            raise ClusterError(f"{worker.describe()}: the cluster did not form within {join_timeout:g} s "
                               f"({reason}); start every worker of {', '.join(worker.addresses)} with the same "
                               "cluster in TF_CONFIG") from None
        raise ClusterError(f"{worker.describe()}: lost contact with {_peer(text, worker) or 'the other workers'} "
                           f"({reason}); the last finished epoch is kept: restart every worker to resume from it",
                           resumable=True) from None


@contextlib.contextmanager
def work_dir(out: str | Path, worker: Worker) -> Iterator[tuple[Path, Path]]:
    """``(folder to write, the run folder)``: the same for the chief; a temporary folder,
    removed afterwards, for every other worker."""
    run = Path(out)
    if worker.chief:
        yield run, run
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"edgekit-worker{worker.index}-"))
    try:
        yield scratch / run.name, run
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def multi_worker(strategy: Any) -> bool:
    """Whether ``strategy`` spans several processes."""
    extended = getattr(strategy, "extended", None)
    return bool(getattr(extended, "_in_multi_worker_mode", lambda: False)())


def fit_model(model: Any, strategy: Any) -> Any:
    """The model to ``compile``/``fit`` under ``strategy``: ``model`` itself, or across
    workers a thin wrapper around it.

    Keras 3 breaks ``fit()`` under MultiWorkerMirroredStrategy twice (keras-team/keras#20585):
    a model created under the strategy's scope reduces a whole input batch structure with
    ``strategy.reduce`` before training (unsupported by this strategy), and every step's
    scalar logs are averaged over ``axis=0`` (a scalar has none). The wrapper is created
    outside the scope, so Keras skips the first (the wrapped model is already built, under
    the scope) and finds the strategy through ``tf.distribute.get_strategy()``: call its
    ``compile`` and ``fit`` inside ``strategy.scope()``. Its steps return logs of shape
    ``[1]``, which average correctly. The weights are ``model``'s own.
    """
    if not multi_worker(strategy):
        return model
    import keras
    import tensorflow as tf

    def _rank1(logs: dict[str, Any]) -> dict[str, Any]:
        return {key: tf.reshape(value, [1]) for key, value in logs.items()}

    class CrossWorkerFit(keras.Model):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__(name=f"{inner.name}_across_workers")
            self.inner = inner
            self.built = True  # the inner model was built under the strategy's scope

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.inner(inputs, training=training)

        def train_step(self, data: Any) -> dict[str, Any]:
            return _rank1(super().train_step(data))

        def test_step(self, data: Any) -> dict[str, Any]:
            return _rank1(super().test_step(data))

    return CrossWorkerFit(model)
