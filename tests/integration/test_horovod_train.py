"""Two-process Horovod training run through ``horovodrun``, including resume."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.line_shards import text_image, tiny_dataset

pytestmark = [
    pytest.mark.horovod,
    pytest.mark.skipif(
        importlib.util.find_spec("horovod") is None,
        reason="horovod is not installed (build it with scripts/build_horovod.sh)",
    ),
]


def _horovodrun(data_dir: Path, out_dir: Path, epochs: int) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    cmd = [
        str(bin_dir / "horovodrun"),
        "--gloo",
        "-np",
        "2",
        "-H",
        "localhost:2",
        sys.executable,
        "-m",
        "linerec.training.train",
        "--data-dir",
        str(data_dir),
        "--out-dir",
        str(out_dir),
        "--epochs",
        str(epochs),
        "--steps-per-epoch",
        "3",
        "--batch-size",
        "4",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"horovodrun failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_two_rank_training_and_resume(tmp_path):
    data_dir = tiny_dataset(tmp_path / "data")
    out_dir = tmp_path / "out"

    first = _horovodrun(data_dir, out_dir, epochs=1)
    for name in ("model.weights.h5", "config.json", "metrics.json"):
        assert (out_dir / name).is_file(), name
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["epochs"] == 1 and metrics["steps"] == 3
    assert len(metrics["train_loss"]) == 1 and np.isfinite(metrics["train_loss"][0])
    assert 0.0 <= metrics["val_cer"] and metrics["lines_per_sec"] > 0
    assert list((out_dir / "tensorboard").glob("events.out.tfevents.*")), "no TensorBoard events from rank 0"
    assert "resuming from checkpoint" not in first.stdout + first.stderr
    config = json.loads((out_dir / "config.json").read_text())
    assert config["model_version"].startswith("crnn-") and config["dataset_version"] == "test-ds-1"
    assert sorted(p.name for p in (out_dir / "checkpoints").iterdir()) == ["ckpt-00001"]

    second = _horovodrun(data_dir, out_dir, epochs=2)
    log = second.stdout + second.stderr
    assert "resuming from checkpoint" in log and "ckpt-00001" in log
    metrics2 = json.loads((out_dir / "metrics.json").read_text())
    assert metrics2["epochs"] == 2 and metrics2["steps"] == 6
    assert metrics2["train_loss"][0] == metrics["train_loss"][0]
    assert len(metrics2["train_loss"]) == 2

    from linerec.model.recognizer import Recognizer

    rec = Recognizer.load(out_dir)
    config2 = json.loads((out_dir / "config.json").read_text())
    assert rec.model_version == config2["model_version"] != config["model_version"]
    assert len(rec.recognize([text_image("the fox")])) == 1
