"""Distributed set-up without a cluster: TF_CONFIG checks, ports, who writes, the input pipeline,
mixed precision, and the one-line errors of ``edgekit train --strategy multiworker``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trainer_folders import write_digit_folder

from edgekit.cli import cli
from edgekit.errors import ConfigError

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

from edgekit_trainer import ClusterError
from edgekit_trainer.devices import float32_model, mixed_precision_pays
from edgekit_trainer.distribute import (
    Worker,
    check_port,
    parse_tf_config,
    this_worker,
    work_dir,
)
from edgekit_trainer.pipeline import evaluation_data, sample_weights, training_data


def _tf_config(workers: list[str], index: int = 0, kind: str = "worker", **cluster: list[str]) -> str:
    return json.dumps({"cluster": {"worker": workers, **cluster}, "task": {"type": kind, "index": index}})


def test_tf_config_names_this_worker_and_the_chief() -> None:
    first = parse_tf_config(_tf_config(["127.0.0.1:5000", "127.0.0.1:5001"], index=0))
    second = parse_tf_config(_tf_config(["127.0.0.1:5000", "127.0.0.1:5001"], index=1))
    assert (first.chief, first.address, first.count) == (True, "127.0.0.1:5000", 2)
    assert (second.chief, second.address) == (False, "127.0.0.1:5001")
    with_chief = parse_tf_config(_tf_config(["h:2"], index=0, chief=["h:1"]))
    assert not with_chief.chief and with_chief.addresses == ("h:1", "h:2") and with_chief.index == 1


@pytest.mark.parametrize("text, message", [
    (None, "multi-worker training needs TF_CONFIG on every worker"),
    ("{cluster:", "TF_CONFIG is not valid JSON"),
    ('["a"]', "TF_CONFIG must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'worker' \\(or 'chief'\\) list in 'cluster'"),
    (_tf_config(["h:1"], ps=["h:9"]), "job 'ps' is not supported"),
    (_tf_config(["h:1", "h"]), "cluster worker\\[1\\] is 'h', expected 'host:port'"),
    (_tf_config(["h:1", "h:70000"]), "expected 'host:port' \\(port 1-65535\\)"),
    (_tf_config(["h:1", "h:2"], index=2), "task index 2 is not in cluster 'worker' \\(it has 2 addresses\\)"),
    (_tf_config(["h:1", "h:1"]), "an address appears twice"),
    (_tf_config(["h:1"], kind="evaluator"), "'task' must name this worker"),
    (_tf_config(["h:2"], chief=["h:0", "h:1"]), "2 chiefs; there can be at most one"),
])
def test_bad_tf_config_is_one_config_error(text: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tf_config(text)


def test_tf_config_is_ignored_unless_the_strategy_is_multiworker() -> None:
    assert this_worker("none", {"TF_CONFIG": _tf_config(["h:1", "h:2"], index=1)}) == Worker()
    assert Worker().chief and Worker().describe() == "one process"


def test_a_port_in_use_is_reported_before_tensorflow_starts() -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = parse_tf_config(_tf_config([f"127.0.0.1:{port}", "127.0.0.1:1"]))
        with pytest.raises(ClusterError, match=f"port {port} of this worker .* is already in use"):
            check_port(worker)
    check_port(worker)  # free again


def test_only_the_chief_writes_the_run_folder_others_a_removed_temporary_one(tmp_path: Path) -> None:
    chief, other = (parse_tf_config(_tf_config(["h:1", "h:2"], index=i)) for i in (0, 1))
    with work_dir(tmp_path / "run", chief) as (path, run):
        assert path == run == tmp_path / "run"
    with work_dir(tmp_path / "run", other) as (path, run):
        assert run == tmp_path / "run" and path != run and path.name == "run"
        path.mkdir()
        (path / "model.keras").write_text("scratch")
    assert not path.exists() and not path.parent.exists()


def test_train_cli_rejects_bad_tf_config_in_one_line_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_digit_folder(tmp_path / "d", per_class=3, classes=(0, 1))
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"index": 0}}')
    result = CliRunner().invoke(cli, ["train", str(data), "--out", str(tmp_path / "run"), "--model", "tiny",
                                      "--strategy", "multiworker", "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith("ConfigError: TF_CONFIG: 'task' must name")
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_train_cli_reports_a_taken_port_as_cluster_error_exit_8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_digit_folder(tmp_path / "d", per_class=3, classes=(0, 1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("TF_CONFIG", _tf_config([f"127.0.0.1:{port}", "127.0.0.1:1"]))
        result = CliRunner().invoke(cli, ["train", str(data), "--out", str(tmp_path / "run"), "--model", "tiny",
                                          "--strategy", "multiworker", "--quiet"])
    assert result.exit_code == 8, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"ClusterError: port {port} of this worker")


def test_mixed_precision_only_where_every_gpu_has_tensor_cores() -> None:
    assert not mixed_precision_pays([])  # CPU only
    assert mixed_precision_pays([(7, 0)]) and mixed_precision_pays([(8, 6), (9, 0)])
    assert not mixed_precision_pays([(6, 1)]) and not mixed_precision_pays([(8, 6), (6, 1)])
    assert not mixed_precision_pays([None])


def test_a_model_trained_in_mixed_precision_is_saved_as_float32() -> None:
    import keras
    from edgekit_trainer.backbones import Architecture, build_model
    from edgekit_trainer.devices import precision

    with precision([(8, 0)]) as policy:  # as on a tensor-core GPU
        assert policy == "mixed_float16"
        mixed = build_model(Architecture("tiny", 3, 32, 1, 1.0, "none"))
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert mixed.layers[2].compute_dtype == "float16" and mixed.get_layer("probs").compute_dtype == "float32"
    twin = float32_model(mixed)
    assert {layer.compute_dtype for layer in twin.layers if layer.weights} == {"float32"}
    x = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(twin.predict(x, verbose=0), mixed.predict(x, verbose=0), atol=2e-3)
    assert float32_model(twin) is twin


def test_training_pipeline_sees_every_image_once_per_epoch_in_a_seeded_order() -> None:
    x = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    data = training_data(x, y, batch_size=4, seed=3, class_weight={0: 0.5, 1: 2.0})
    epochs = [[(b[0].numpy(), b[1].numpy(), b[2].numpy()) for b in data] for _ in range(2)]
    for batches in epochs:
        assert [len(b[1]) for b in batches] == [4, 4, 2]
        images = np.concatenate([b[0][:, 0, 0, 0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        assert sorted(images.tolist()) == list(range(10)) and batches[0][0].dtype == np.float32
        assert (labels == y[images.astype(int)]).all()  # images keep their labels
        np.testing.assert_array_equal(np.concatenate([b[2] for b in batches]), np.where(labels == 1, 2.0, 0.5))
    orders = [np.concatenate([b[0][:, 0, 0, 0] for b in batches]).tolist() for batches in epochs]
    assert orders[0] != orders[1]  # reshuffled every epoch
    again = [np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in training_data(x, y, 4, 3)]).tolist()]
    assert again[0] == orders[0]  # the same seed gives every worker the same global batches


def test_pipelines_shard_by_data_and_evaluation_keeps_file_order() -> None:
    import tensorflow as tf

    x = np.zeros((5, 2, 2, 1), np.uint8)
    y = np.arange(5)
    for data in (training_data(x, y, 2, 0), evaluation_data(x, y, 2)):
        assert data.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
        assert data.options().deterministic
    assert np.concatenate([b[1].numpy() for b in evaluation_data(x, y, 2)]).tolist() == [0, 1, 2, 3, 4]


def test_sample_weights_follow_the_class_weights() -> None:
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(sample_weights(labels, {0: 3.0, 2: 0.5}), [0.5, 3.0, 1.0, 0.5])
    np.testing.assert_array_equal(sample_weights(labels, None), [1, 1, 1, 1])


LOST = """Graph execution error:

Detected at node CollectiveReduceV2 defined at (most recent call last):
  File "/x/fit.py", line 32, in <module>

Collective ops is aborted by: Socket closed
Additional GRPC error information from remote target /job:worker/replica:0/task:0 while calling /tensorflow.WorkerService/RecvBuf:
:UNKNOWN:Error received from peer  {grpc_status:14, grpc_message:"Socket closed"}
The error could be from a previous operation. Restart your program to reset.
\t [[{{node CollectiveReduceV2}}]] [Op:__inference_multi_step_on_iterator_1423]"""


def test_tensorflow_cluster_failures_become_one_cluster_error_line() -> None:
    import tensorflow as tf
    from edgekit_trainer.distribute import cluster_errors

    worker = parse_tf_config(_tf_config(["127.0.0.1:5000", "127.0.0.1:5001"], index=1))
    with pytest.raises(ClusterError) as lost, cluster_errors(worker):
        raise tf.errors.UnavailableError(None, None, LOST)
    assert str(lost.value) == (
        "worker 1 of 2 at 127.0.0.1:5001 (writes to a temporary folder): lost contact with worker 0 at "
        "127.0.0.1:5000 (Collective ops is aborted by: Socket closed); the last finished epoch is kept: "
        "restart every worker to resume from it")
    assert lost.value.resumable
    own_node = ("{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:1/device:CPU:0}} "
                "Collective ops is aborted by: recvmsg:Connection reset by peer [Op:CollectiveReduceV2]")
    with pytest.raises(ClusterError, match=r"lost contact with the other workers \(Collective ops is aborted by: "
                       r"recvmsg:Connection reset by peer\); the last"), cluster_errors(worker):
        raise tf.errors.UnavailableError(None, None, own_node)  # names only this worker's own task
    barrier = "Barrier timed out. Id: [Init]Wait_for_all_tasks_to_register::0.\n# of tasks: 1/2."
    with pytest.raises(ClusterError, match=r"did not form within 7 s \(Barrier timed out") as late, \
            cluster_errors(worker, 7, joining=True):
        raise tf.errors.DeadlineExceededError(None, None, barrier)
    assert not late.value.resumable
    with pytest.raises(tf.errors.InvalidArgumentError), cluster_errors(worker):  # not the cluster's fault
        raise tf.errors.InvalidArgumentError(None, None, "shapes differ")


@pytest.mark.slow  # TensorFlow in a child
def test_synchronized_batch_norm_on_two_replicas_is_one_process_step() -> None:
    """One training step on two replicas, each with half of the batch: with synchronized batch
    norm the outputs and summed gradients are one process's; with each half's own statistics not."""
    script = Path(__file__).with_name("batchnorm_replicas.py")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["synchronized"]["output"] < 1e-4 and report["synchronized"]["gradient"] < 1e-3, report
    assert report["local"]["output"] > 0.5 and report["local"]["gradient"] > 1.0, report  # the probe can tell
