"""Data-parallel CRNN training with Horovod (custom loop, CTC loss).

Run ``horovodrun --gloo -np N -H localhost:N python -m linerec.training.train --data-dir D
--out-dir O`` (or plain ``python -m linerec.training.train ...`` for one process).
All Horovod-specific rules live in :func:`main` and the steps it calls: init, GPU
pinning, LR scaled by world size, per-rank input sharding, rank-0 broadcast of model
and optimizer state, allreduced metrics, rank-0-only checkpoints/logs/outputs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

logger = logging.getLogger("linerec.training.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see module docstring)."""
    p = argparse.ArgumentParser(prog="python -m linerec.training.train", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="dir with manifest.json + shards")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=None, help="default: train lines / (batch size * world size)")
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--lr", type=float, default=1e-3, help="per-rank LR (scaled by world size)")
    p.add_argument(
        "--lr-decay",
        choices=("none", "cosine"),
        default="cosine",
        help="cosine: decay to 5%% of the LR over all steps of the run (default)",
    )
    p.add_argument("--val-every", type=int, default=1, help="val CER every N epochs on rank 0 (0: only at the end)")
    p.add_argument("--init-model", type=Path, default=None, help="model dir to warm-start from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hparams", type=json.loads, default={}, help='JSON, e.g. {"lstm_units": 128}')
    p.add_argument("--model-version", default=None, help="default: crnn-<weights sha256[:12]>")
    return p.parse_args(argv)


def _digest(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _latest_checkpoint(ckpt_root: Path) -> Path | None:
    done = sorted(ckpt_root.glob("ckpt-*/state.json")) if ckpt_root.is_dir() else []
    return done[-1].parent if done else None


def _save_checkpoint(ckpt_root: Path, model, optimizer, state: dict, keep: int = 2) -> Path:
    final = ckpt_root / f"ckpt-{state['epoch']:05d}"
    tmp = ckpt_root / f".tmp-{final.name}"
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(tmp / "model.weights.h5"))
    np.savez(tmp / "optimizer.npz", *[np.asarray(v.numpy()) for v in optimizer.variables])
    (tmp / "state.json").write_text(json.dumps(state))  # written last: marks completeness
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in sorted(ckpt_root.glob("ckpt-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _restore_checkpoint(ckpt: Path, model, optimizer) -> dict:
    model.load_weights(str(ckpt / "model.weights.h5"))
    arrays = np.load(ckpt / "optimizer.npz")
    values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(f"{ckpt}: {len(values)} optimizer arrays for {len(optimizer.variables)} vars")
    for var, value in zip(optimizer.variables, values):
        var.assign(value)
    return json.loads((ckpt / "state.json").read_text())


def transfer_weights(model, init_model, cfg, init_cfg) -> None:
    """Copy ``init_model``'s weights into ``model``, across a change of charset.

    Every layer but the output takes the start model's weights as they are; the output layer
    (``logits``) takes the rows of the classes both charsets share (the blank included), and a
    class new to ``cfg.charset`` keeps its fresh initialization.
    """
    if init_cfg.charset == cfg.charset:
        model.set_weights(init_model.get_weights())
        return
    old_index = {ch: i + 1 for i, ch in enumerate(init_cfg.charset.chars)}
    for layer in model.layers:
        weights = init_model.get_layer(layer.name).get_weights()
        if layer.name != "logits" or not weights:
            layer.set_weights(weights)
            continue
        kernel, bias = layer.get_weights()  # (F, C_new), (C_new,)
        old_kernel, old_bias = weights  # (F, C_old), (C_old,)
        pairs = [(0, 0)] + [(i + 1, old_index[ch]) for i, ch in enumerate(cfg.charset.chars) if ch in old_index]
        new_ids, old_ids = (np.array(ids) for ids in zip(*pairs))
        kernel[:, new_ids], bias[new_ids] = old_kernel[:, old_ids], old_bias[old_ids]
        # New classes start a little below the shared ones so they are not read everywhere at first.
        fresh = np.setdiff1d(np.arange(bias.shape[0]), new_ids)
        bias[fresh] = float(np.median(old_bias[1:])) - 2.0
        layer.set_weights([kernel, bias])
    logger.info("warm start across charsets: %d of %d classes carried over", len(pairs), cfg.charset.size)


@dataclasses.dataclass
class _Data:
    """A dataset folder: its manifest, line config, shard files per split and number of training lines."""

    manifest: dict
    cfg: Any  # linerec.model.preprocessing.LineConfig
    shard_files: dict[str, list[str]]
    n_train: int


@dataclasses.dataclass
class _Run:
    """One rank's training run: what its epochs, validation, TensorBoard and outputs share.

    ``state`` (``epoch``, ``steps``, ``train_loss``, ``val_cer``) is what a checkpoint saves besides
    the weights; ``schedule`` is the learning rate, a float or a function of the optimizer's step
    count; ``writer`` writes TensorBoard summaries on rank 0 and nothing on the other ranks.
    """

    args: argparse.Namespace
    data: _Data
    rank: int
    size: int
    model: Any
    hparams: dict
    optimizer: Any
    lr: float
    schedule: Any
    steps_per_epoch: int
    state: dict
    writer: Any


def _init_horovod(hvd, seed: int) -> tuple[int, int]:
    """Start Horovod, pin this rank's device, set up logging and seed every generator; rank and world size.

    A rank gets the GPU of its local rank, or without GPUs its share of the CPU cores. Rank 0
    logs at INFO, the others at WARNING.
    """
    import keras

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # one GPU per process, chosen by local rank
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")
    else:  # share the CPU cores between the local ranks instead of oversubscribing
        tf.config.threading.set_intra_op_parallelism_threads(max(1, os.cpu_count() // hvd.local_size()))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s [rank {rank}] %(name)s %(levelname)s: %(message)s",
    )
    keras.utils.set_random_seed(seed)
    return rank, size


def _read_data(data_dir: Path) -> _Data:
    """The manifest of the dataset folder ``data_dir`` (``manifest.json`` beside its shards)."""
    from linerec.model.preprocessing import LineConfig

    manifest = json.loads((data_dir / "manifest.json").read_text())
    splits = manifest["splits"]
    shard_files = {k: [str(data_dir / s["file"]) for s in v] for k, v in splits.items()}
    return _Data(
        manifest, LineConfig.from_dict(manifest["config"]), shard_files, sum(s["count"] for s in splits["train"])
    )


def start_model_geometry(init_model: str | Path | None, data: _Data) -> _Data:
    """The data as a warm start reads it: at its start model's height, x scale and text band.

    A dataset's shards hold raw crops with context; how a line is framed and scaled for the
    network is the model's, not the data's. So a warm start keeps its start model's reading
    geometry (the dataset's character set and lengths stay), and a dataset built with another
    default still continues the model. Without a start model the data is returned as it is.
    """
    if not init_model:
        return data
    from linerec.model.preprocessing import LineConfig
    from linerec.model.recognizer import CONFIG_FILE

    start = LineConfig.from_dict(json.loads((Path(init_model) / CONFIG_FILE).read_text())["line_config"])
    geometry = {"height": start.height, "x_scale": start.x_scale, "band_pad": start.band_pad}
    if all(getattr(data.cfg, name) == value for name, value in geometry.items()):
        return data
    logger.info(
        "warm start: reading lines as %s does (height %d, x_scale %s, band_pad %s; "
        "the dataset's default is %d, %s, %s)",
        init_model,
        start.height,
        start.x_scale,
        start.band_pad,
        data.cfg.height,
        data.cfg.x_scale,
        data.cfg.band_pad,
    )
    return dataclasses.replace(data, cfg=dataclasses.replace(data.cfg, **geometry))


def _build_model(args: argparse.Namespace, cfg, rank: int) -> tuple[Any, dict]:
    """The CRNN for ``cfg`` and its resolved hyperparameters, warm-started from ``--init-model`` if given.

    A start model's hyperparameters are the defaults of ``--hparams``; it must read lines at the
    dataset's height and x scale.
    """
    from linerec.model.crnn import build_crnn, resolve_hparams
    from linerec.model.recognizer import load_model_dir

    hparams = dict(args.hparams)
    init_model = init_cfg = None
    if args.init_model:
        init_model, init_cfg, init_conf = load_model_dir(args.init_model)
        if (init_cfg.height, init_cfg.x_scale) != (cfg.height, cfg.x_scale):
            raise ValueError(
                f"--init-model {args.init_model} reads lines at height {init_cfg.height}, "
                f"x_scale {init_cfg.x_scale}; the dataset has {cfg.height}, {cfg.x_scale}"
            )
        hparams = {**init_conf.get("hparams", {}), **hparams}
        if rank == 0:
            logger.info("warm-starting from %s (%s)", args.init_model, init_conf.get("model_version"))
    hparams = resolve_hparams(**hparams)
    model = build_crnn(cfg, **hparams)
    if init_model is not None:
        transfer_weights(model, init_model, cfg, init_cfg)
    return model, hparams


def _build_optimizer(model, lr: float, decay: str, total_steps: int) -> tuple[Any, Any]:
    """Adam with clipped gradients and its learning rate: ``lr``, or cosine-decayed to 5 % over ``total_steps``.

    The optimizer is built (its slots exist) so that it can be restored and broadcast.
    """
    import keras

    schedule = lr
    if decay == "cosine":  # a function of the optimizer's step count, so a resumed run continues it
        schedule = keras.optimizers.schedules.CosineDecay(lr, max(1, total_steps), alpha=0.05)
    optimizer = keras.optimizers.Adam(schedule, global_clipnorm=5.0)
    optimizer.build(model.trainable_variables)  # create slots now so they can be restored/broadcast
    return optimizer, schedule


def _restore(hvd, rank: int, out_dir: Path, model, optimizer) -> dict:
    """The training state to start from, the same on every rank.

    Rank 0 creates ``out_dir`` and restores the latest complete checkpoint under
    ``out_dir/checkpoints`` into the model and optimizer, if there is one; then its state,
    weights and optimizer slots (initial, warm-started or restored) are broadcast to every rank.
    """
    state = {"epoch": 0, "steps": 0, "train_loss": [], "val_cer": []}
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        latest = _latest_checkpoint(out_dir / "checkpoints")
        if latest is not None:
            state = _restore_checkpoint(latest, model, optimizer)
            logger.info("resuming from checkpoint %s (epoch %d, step %d)", latest, state["epoch"], state["steps"])
    state = hvd.broadcast_object(state, root_rank=0)
    # Rank 0's (initial, warm-started or restored) state wins everywhere. The optimizer was
    # built above, so its variables exist already and are broadcast together with the model's.
    hvd.broadcast_variables([v.value for v in model.variables], root_rank=0)
    hvd.broadcast_variables([v.value for v in optimizer.variables], root_rank=0)
    return state


def _training_batches(run: _Run):
    """This rank's shard of the training lines: an endless iterator of augmented, bucketed batches.

    The shuffle is seeded by ``--seed`` plus the epoch the run starts at.
    """
    from linerec.datasets.shards import load_dataset

    args = run.args
    return iter(
        load_dataset(
            run.data.shard_files["train"],
            run.data.cfg,
            args.batch_size,
            shuffle=True,
            seed=args.seed + run.state["epoch"],
            num_shards=run.size,
            shard_index=run.rank,
            drop_remainder=True,
            repeat=True,
            augment=True,
            bucket=True,
        )
    )


def _make_train_step(hvd, model, optimizer, cfg):
    """The compiled training step: case-folded CTC loss, gradients averaged over the ranks, one update."""
    from linerec.model.crnn import logit_lengths
    from linerec.model.ctc import case_fold_matrix, case_folded_loss

    fold = case_fold_matrix(cfg.charset.chars)  # (C, C)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, cfg.height, None, 1], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, cfg.max_label_len], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.int32),
        ]
    )
    def train_step(image, width, label, label_length, case_folded):
        with tf.GradientTape() as tape:
            logits = model([image, width], training=True)  # (B, T, C)
            loss = tf.reduce_mean(
                case_folded_loss(label, label_length, logits, logit_lengths(width), case_folded, fold)
            )
        tape = hvd.DistributedGradientTape(tape)
        grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


def _summary_writer(out_dir: Path, rank: int):
    """TensorBoard: rank 0 writes under ``out_dir/tensorboard``, the other ranks get a no-op writer."""
    if rank == 0:
        return tf.summary.create_file_writer(str(out_dir / "tensorboard"))
    return tf.summary.create_noop_writer()


def _log_scalars(run: _Run, scalars: dict[str, float | None]) -> None:
    """Write ``scalars`` (those not ``None``) to TensorBoard at the run's current step."""
    with run.writer.as_default(step=run.state["steps"]):
        for name, value in scalars.items():
            if value is not None:
                tf.summary.scalar(name, value)


class _Throughput:
    """Wall time of the timed training steps: every step but a run's first, which traces the graph.

    A run of one step times that step.
    """

    def __init__(self, total_steps: int) -> None:
        self.total_steps = total_steps
        self.steps_run = 0
        self.timed_steps = 0
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        """Count one step that took ``seconds``."""
        if self.steps_run > 0 or self.total_steps == 1:  # leave out the tracing step
            self.timed_steps, self.seconds = self.timed_steps + 1, self.seconds + seconds
        self.steps_run += 1

    def lines_per_sec(self, lines_per_step: int) -> float:
        """Training lines per second over the timed steps (0 if none was timed)."""
        return lines_per_step * self.timed_steps / self.seconds if self.seconds else 0.0


def _train_epoch(hvd, run: _Run, train_step, batches, throughput: _Throughput) -> float:
    """One epoch of ``steps_per_epoch`` steps on every rank; the training loss averaged over the ranks."""
    losses = []
    for _ in range(run.steps_per_epoch):
        t0 = time.perf_counter()
        batch = next(batches)
        loss = train_step(batch["image"], batch["width"], batch["label"], batch["label_length"], batch["case_folded"])
        losses.append(float(loss))
        throughput.add(time.perf_counter() - t0)
        run.state["steps"] += 1
    return float(hvd.allreduce(tf.constant(np.mean(losses), tf.float32), op=hvd.Average))


def _validate(run: _Run) -> float | None:
    """CER of the current model on the validation shards (``None`` without them)."""
    from linerec.eval.evaluate import evaluate_cer
    from linerec.model.recognizer import Recognizer

    return evaluate_cer(Recognizer(run.model, run.data.cfg), run.data.shard_files.get("val", []))


def _end_epoch(run: _Run, epoch_loss: float) -> None:
    """Record a finished epoch: state, TensorBoard, validation every ``--val-every`` epochs and a checkpoint.

    Every rank logs to its writer (a no-op off rank 0); rank 0 validates (except after the last
    epoch, which the final validation covers) and saves the checkpoint.
    """
    args, state = run.args, run.state
    state["epoch"] += 1
    epoch = state["epoch"]
    state["train_loss"].append(epoch_loss)
    current_lr = float(run.schedule(state["steps"])) if callable(run.schedule) else run.lr
    _log_scalars(run, {"loss/train_epoch": epoch_loss, "learning_rate": current_lr})
    if run.rank != 0:
        return
    if args.val_every and epoch % args.val_every == 0 and epoch < args.epochs:
        epoch_cer = _validate(run)
        state.setdefault("val_cer", []).append([epoch, epoch_cer])
        _log_scalars(run, {"cer/val": epoch_cer})
        logger.info("epoch %d val CER %s", epoch, epoch_cer)
    path = _save_checkpoint(args.out_dir / "checkpoints", run.model, run.optimizer, state)
    logger.info("epoch %d/%d loss %.4f (checkpoint %s)", epoch, args.epochs, epoch_loss, path.name)


def _train_epochs(hvd, run: _Run, train_step, batches) -> float:
    """The epochs from the run's state on; training lines per second of the timed steps."""
    args = run.args
    throughput = _Throughput(run.steps_per_epoch * max(0, args.epochs - run.state["epoch"]))
    for _ in range(run.state["epoch"], args.epochs):
        _end_epoch(run, _train_epoch(hvd, run, train_step, batches, throughput))
    return throughput.lines_per_sec(args.batch_size * run.size)


def _check_replicas(hvd, model, size: int) -> None:
    """Fail unless the trainable weights are bit-identical on every rank.

    BatchNorm moving statistics are not: each rank updates them from its own input shard, and
    rank 0's are saved.
    """
    digests = hvd.allgather_object(_digest(v.numpy() for v in model.trainable_variables))
    if len(set(digests)) != 1:
        raise RuntimeError(f"trainable weights diverged across ranks: {digests}")
    logger.info("trainable weights identical on all %d ranks (%s)", size, digests[0][:12])


def _save_outputs(run: _Run, lines_per_sec: float) -> dict:
    """Rank 0: validate the final model, save it, and write ``metrics.json``, the curve and TensorBoard's last figures.

    The model folder gets the model and its lineage (:func:`linerec.model.recognizer.save_model_dir`,
    version ``--model-version`` or ``crnn-<weights sha256[:12]>``); ``training_curve.png`` plots the
    losses and validation CERs. Returns the metrics.
    """
    from linerec.eval.plots import training_curve_png
    from linerec.model.recognizer import save_model_dir

    args, state, manifest = run.args, run.state, run.data.manifest
    val_cer = _validate(run)
    version = args.model_version or f"crnn-{_digest(run.model.get_weights())[:12]}"
    save_model_dir(
        run.model,
        run.data.cfg,
        run.hparams,
        args.out_dir,
        version,
        extra={
            "dataset_version": manifest.get("dataset_version"),
            "lr": args.lr,
            "batch_size": args.batch_size,
            "world_size": run.size,
            "seed": args.seed,
        },
    )
    state.setdefault("val_cer", []).append([state["epoch"], val_cer])
    metrics = {
        "train_loss": state["train_loss"],
        "val_cer": val_cer,
        "val_cer_by_epoch": state["val_cer"],
        "steps": state["steps"],
        "epochs": state["epoch"],
        "world_size": run.size,
        "lines_per_sec": lines_per_sec,
    }
    (args.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (args.out_dir / "training_curve.png").write_bytes(
        training_curve_png(state["train_loss"], f"{version} on {manifest.get('dataset_version')}", state["val_cer"])
    )
    _log_scalars(run, {"cer/val": val_cer, "throughput/lines_per_sec": lines_per_sec})
    run.writer.flush()
    logger.info("done: val CER %s, %.1f lines/s, model %s", val_cer, lines_per_sec, version)
    return metrics


def main(argv: list[str] | None = None) -> dict | None:
    """Train; returns the metrics dict on rank 0 and None on other ranks.

    Horovod and the devices first, then the data, the model (maybe warm-started) and its
    optimizer, the state of the latest checkpoint (rank 0's wins everywhere), the epochs, a
    check that every rank holds the same weights, and rank 0's outputs.
    """
    import horovod.tensorflow as hvd

    args = parse_args(argv)
    rank, size = _init_horovod(hvd, args.seed)
    data = start_model_geometry(args.init_model, _read_data(args.data_dir))
    model, hparams = _build_model(args, data.cfg, rank)
    lr = args.lr * size
    steps_per_epoch = args.steps_per_epoch or max(1, data.n_train // (args.batch_size * size))
    optimizer, schedule = _build_optimizer(model, lr, args.lr_decay, steps_per_epoch * args.epochs)
    state = _restore(hvd, rank, args.out_dir, model, optimizer)
    run = _Run(
        args,
        data,
        rank,
        size,
        model,
        hparams,
        optimizer,
        lr,
        schedule,
        steps_per_epoch,
        state,
        _summary_writer(args.out_dir, rank),
    )
    batches = _training_batches(run)
    train_step = _make_train_step(hvd, model, optimizer, data.cfg)
    logger.info(
        "world size %d, lr %.2e, %d steps/epoch x %d epochs (from epoch %d), %d params",
        size,
        lr,
        steps_per_epoch,
        args.epochs,
        state["epoch"],
        model.count_params(),
    )
    lines_per_sec = _train_epochs(hvd, run, train_step, batches)
    _check_replicas(hvd, model, size)
    metrics = _save_outputs(run, lines_per_sec) if rank == 0 else None
    hvd.broadcast_object(None, root_rank=0)  # barrier: no rank exits before rank 0 is done
    return metrics


if __name__ == "__main__":
    main()
