"""Data-parallel CRNN training with Horovod (custom loop, CTC loss).

Run ``horovodrun --gloo -np N -H localhost:N python -m linerec.training.train --data-dir D
--out-dir O`` (or plain ``python -m linerec.training.train ...`` for one process).
All Horovod-specific rules live in :func:`main`: init, GPU pinning, LR scaled
by world size, per-rank input sharding, rank-0 broadcast of model and
optimizer state, allreduced metrics, rank-0-only checkpoints/logs/outputs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

logger = logging.getLogger("linerec.training.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see module docstring)."""
    p = argparse.ArgumentParser(prog="python -m linerec.training.train", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="dir with manifest.json + shards")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="default: train lines / (batch size * world size)")
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--lr", type=float, default=1e-3, help="per-rank LR (scaled by world size)")
    p.add_argument("--lr-decay", choices=("none", "cosine"), default="cosine",
                   help="cosine: decay to 5%% of the LR over all steps of the run (default)")
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


def main(argv: list[str] | None = None) -> dict | None:
    """Train; returns the metrics dict on rank 0 and None on other ranks."""
    import horovod.tensorflow as hvd
    import keras

    from linerec.model.ctc import case_fold_matrix, case_folded_loss
    from linerec.datasets.shards import load_dataset
    from linerec.model.recognizer import Recognizer, load_model_dir, save_model_dir
    from linerec.model.crnn import build_crnn, logit_lengths, resolve_hparams
    from linerec.model.preprocessing import LineConfig

    args = parse_args(argv)
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # one GPU per process, chosen by local rank
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")
    else:  # share the CPU cores between the local ranks instead of oversubscribing
        tf.config.threading.set_intra_op_parallelism_threads(max(1, os.cpu_count() // hvd.local_size()))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(name)s %(levelname)s: %(message)s")
    keras.utils.set_random_seed(args.seed)

    manifest = json.loads((args.data_dir / "manifest.json").read_text())
    cfg = LineConfig.from_dict(manifest["config"])
    splits = manifest["splits"]
    shard_files = {k: [str(args.data_dir / s["file"]) for s in v] for k, v in splits.items()}
    hparams = dict(args.hparams)
    init_model = None
    if args.init_model:
        init_model, init_cfg, init_conf = load_model_dir(args.init_model)
        if (init_cfg.height, init_cfg.x_scale) != (cfg.height, cfg.x_scale):
            raise ValueError(f"--init-model {args.init_model} reads lines at height {init_cfg.height}, "
                             f"x_scale {init_cfg.x_scale}; the dataset has {cfg.height}, {cfg.x_scale}")
        hparams = {**init_conf.get("hparams", {}), **hparams}
        if rank == 0:
            logger.info("warm-starting from %s (%s)", args.init_model, init_conf.get("model_version"))
    hparams = resolve_hparams(**hparams)
    model = build_crnn(cfg, **hparams)
    if init_model is not None:
        transfer_weights(model, init_model, cfg, init_cfg)
    lr = args.lr * size
    n_train = sum(s["count"] for s in splits["train"])
    steps_per_epoch = args.steps_per_epoch or max(1, n_train // (args.batch_size * size))
    schedule = lr
    if args.lr_decay == "cosine":  # a function of the optimizer's step count, so a resumed run continues it
        schedule = keras.optimizers.schedules.CosineDecay(lr, max(1, steps_per_epoch * args.epochs), alpha=0.05)
    optimizer = keras.optimizers.Adam(schedule, global_clipnorm=5.0)
    optimizer.build(model.trainable_variables)  # create slots now so they can be restored/broadcast

    ckpt_root = args.out_dir / "checkpoints"
    state = {"epoch": 0, "steps": 0, "train_loss": [], "val_cer": []}
    if rank == 0:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        latest = _latest_checkpoint(ckpt_root)
        if latest is not None:
            state = _restore_checkpoint(latest, model, optimizer)
            logger.info("resuming from checkpoint %s (epoch %d, step %d)", latest, state["epoch"], state["steps"])
    state = hvd.broadcast_object(state, root_rank=0)
    # Rank 0's (initial, warm-started or restored) state wins everywhere. The optimizer was
    # built above, so its variables exist already and are broadcast together with the model's.
    hvd.broadcast_variables([v.value for v in model.variables], root_rank=0)
    hvd.broadcast_variables([v.value for v in optimizer.variables], root_rank=0)

    train_ds = load_dataset(shard_files["train"], cfg, args.batch_size, shuffle=True,
                            seed=args.seed + state["epoch"],
                            num_shards=size, shard_index=rank, drop_remainder=True, repeat=True,
                            augment=True, bucket=True)
    batches = iter(train_ds)

    fold = case_fold_matrix(cfg.charset.chars)  # (C, C)

    @tf.function(input_signature=[
        tf.TensorSpec([None, cfg.height, None, 1], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None, cfg.max_label_len], tf.int32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32)])
    def train_step(image, width, label, label_length, case_folded):
        with tf.GradientTape() as tape:
            logits = model([image, width], training=True)  # (B, T, C)
            loss = tf.reduce_mean(case_folded_loss(label, label_length, logits, logit_lengths(width),
                                                   case_folded, fold))
        tape = hvd.DistributedGradientTape(tape)
        grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    logger.info("world size %d, lr %.2e, %d steps/epoch x %d epochs (from epoch %d), %d params",
                size, lr, steps_per_epoch, args.epochs, state["epoch"], model.count_params())
    # TensorBoard: rank 0 writes, the other ranks get a no-op writer.
    writer = tf.summary.create_file_writer(str(args.out_dir / "tensorboard")) if rank == 0 \
        else tf.summary.create_noop_writer()
    timed_steps, timed_seconds, run_steps = 0, 0.0, 0
    total_run_steps = steps_per_epoch * max(0, args.epochs - state["epoch"])
    for epoch in range(state["epoch"], args.epochs):
        losses = []
        for _ in range(steps_per_epoch):
            t0 = time.perf_counter()
            batch = next(batches)
            loss = train_step(batch["image"], batch["width"], batch["label"], batch["label_length"],
                              batch["case_folded"])
            losses.append(float(loss))
            if run_steps > 0 or total_run_steps == 1:  # leave out the tracing step
                timed_steps, timed_seconds = timed_steps + 1, timed_seconds + time.perf_counter() - t0
            state["steps"], run_steps = state["steps"] + 1, run_steps + 1
        epoch_loss = float(hvd.allreduce(tf.constant(np.mean(losses), tf.float32), op=hvd.Average))
        state["epoch"] = epoch + 1
        state["train_loss"].append(epoch_loss)
        current_lr = float(schedule(state["steps"])) if callable(schedule) else lr
        with writer.as_default(step=state["steps"]):
            tf.summary.scalar("loss/train_epoch", epoch_loss)
            tf.summary.scalar("learning_rate", current_lr)
        if rank == 0 and args.val_every and (epoch + 1) % args.val_every == 0 and epoch + 1 < args.epochs:
            from linerec.eval.evaluate import evaluate_cer

            epoch_cer = evaluate_cer(Recognizer(model, cfg), shard_files.get("val", []))
            state.setdefault("val_cer", []).append([epoch + 1, epoch_cer])
            with writer.as_default(step=state["steps"]):
                if epoch_cer is not None:
                    tf.summary.scalar("cer/val", epoch_cer)
            logger.info("epoch %d val CER %s", epoch + 1, epoch_cer)
        if rank == 0:
            path = _save_checkpoint(ckpt_root, model, optimizer, state)
            logger.info("epoch %d/%d loss %.4f (checkpoint %s)", epoch + 1, args.epochs, epoch_loss, path.name)
    lines_per_sec = args.batch_size * size * timed_steps / timed_seconds if timed_seconds else 0.0
    # Trainable weights must be bit-identical on every rank (BatchNorm moving statistics are
    # not: each rank updates them from its own input shard, and rank 0's are saved).
    digests = hvd.allgather_object(_digest(v.numpy() for v in model.trainable_variables))
    if len(set(digests)) != 1:
        raise RuntimeError(f"trainable weights diverged across ranks: {digests}")
    logger.info("trainable weights identical on all %d ranks (%s)", size, digests[0][:12])

    metrics = None
    if rank == 0:
        recognizer = Recognizer(model, cfg)
        from linerec.eval.evaluate import evaluate_cer

        val_cer = evaluate_cer(recognizer, shard_files.get("val", []))
        version = args.model_version or f"crnn-{_digest(model.get_weights())[:12]}"
        save_model_dir(model, cfg, hparams, args.out_dir, version,
                       extra={"dataset_version": manifest.get("dataset_version"), "lr": args.lr,
                              "batch_size": args.batch_size, "world_size": size, "seed": args.seed})
        state.setdefault("val_cer", []).append([state["epoch"], val_cer])
        metrics = {"train_loss": state["train_loss"], "val_cer": val_cer, "val_cer_by_epoch": state["val_cer"],
                   "steps": state["steps"],
                   "epochs": state["epoch"], "world_size": size, "lines_per_sec": lines_per_sec}
        (args.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        from linerec.eval.plots import training_curve_png

        (args.out_dir / "training_curve.png").write_bytes(
            training_curve_png(state["train_loss"], f"{version} on {manifest.get('dataset_version')}",
                               state["val_cer"]))
        with writer.as_default(step=state["steps"]):
            if val_cer is not None:
                tf.summary.scalar("cer/val", val_cer)
            tf.summary.scalar("throughput/lines_per_sec", lines_per_sec)
        writer.flush()
        logger.info("done: val CER %s, %.1f lines/s, model %s", val_cer, lines_per_sec, version)
    hvd.broadcast_object(None, root_rank=0)  # barrier: no rank exits before rank 0 is done
    return metrics


if __name__ == "__main__":
    main()
