"""Evaluation and promotion (the training DAG's ``evaluate_and_promote``): a model's CER on a dataset
version's test split, and promotion of a candidate that beats the production model."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from linerec.infra.config import get_settings
from linerec.infra.db import query
from tasks.context import engine
from tasks.registry import download_model, fetch_dataset, production_model

log = logging.getLogger(__name__)


def evaluate_model(model_id: int, dataset_version_id: int | None = None, split: str = "test") -> float:
    """Corpus CER of ``model_id`` on ``split`` of a dataset version (default: the model's own).

    The result is stored in ``evaluations``; an existing evaluation is returned as is.
    """
    from linerec.eval.evaluate import evaluate_cer
    from linerec.model.recognizer import Recognizer

    eng = engine()
    with eng.connect() as conn:
        if dataset_version_id is None:
            model = conn.execute(query("registered_model"), {"model": model_id}).one()
            dataset_version_id = model.dataset_version_id
        done = conn.execute(query("evaluation_cer"), {"m": model_id, "d": dataset_version_id, "s": split}).scalar()
    if done is not None:
        return float(done)
    data_dir = fetch_dataset(dataset_version_id, get_settings().cache_dir / "datasets")
    manifest = json.loads((data_dir / "manifest.json").read_text())
    files = [str(data_dir / f["file"]) for f in manifest["splits"][split]]
    n_lines = sum(f["count"] for f in manifest["splits"][split])
    cer = evaluate_cer(Recognizer.load(download_model(model_id)), files)
    if cer is None:
        raise ValueError(f"dataset version {dataset_version_id} has no {split} lines to evaluate on")
    with eng.begin() as conn:
        conn.execute(
            query("insert_evaluation"), {"m": model_id, "d": dataset_version_id, "s": split, "c": cer, "n": n_lines}
        )
    log.info("model %s on dataset %s/%s: CER %.4f over %d lines", model_id, dataset_version_id, split, cer, n_lines)
    return cer


def promote_if_better(model_id: int) -> dict:
    """Promote candidate ``model_id`` if its test CER beats the production model's on the same split.

    Both models are evaluated on the candidate's dataset version, so the comparison is fair.
    With no production model, the candidate is promoted.

    Returns
    -------
    dict
        ``candidate_cer``, ``production_cer`` (or None), ``promoted`` and ``reason``.
    """
    eng = engine()
    with eng.connect() as conn:
        model = conn.execute(query("registered_model"), {"model": model_id}).one()
        status, dv = model.status, model.dataset_version_id
        production = production_model(conn)
    prod = production.model_id if production is not None else None
    cand_cer = evaluate_model(model_id, dv)
    prod_cer = evaluate_model(prod, dv) if prod is not None and prod != model_id else None
    if status != "candidate":
        decision = {"promoted": False, "reason": f"model is {status}, not a candidate"}
    elif prod_cer is None:
        decision = {"promoted": True, "reason": "no production model yet"}
    elif cand_cer < prod_cer:
        decision = {"promoted": True, "reason": f"CER {cand_cer:.4f} < production {prod_cer:.4f}"}
    else:
        decision = {"promoted": False, "reason": f"CER {cand_cer:.4f} >= production {prod_cer:.4f}"}
    if decision["promoted"]:
        try:
            with eng.begin() as conn:
                swap_production(conn, model_id, prod)
        except PromotionConflict as exc:  # rolled back: nothing changed
            decision = {"promoted": False, "reason": str(exc)}
            log.warning("model %s not promoted: %s", model_id, exc)
    result = {
        "model_id": model_id,
        "production_model_id": prod,
        "candidate_cer": cand_cer,
        "production_cer": prod_cer,
        **decision,
    }
    log.info("promotion decision: %s", result)
    return result


_PROMOTION_LOCK = 72110030  # advisory lock serialising promotions (transaction level)


class PromotionConflict(RuntimeError):
    """The production model changed between the comparison and the promotion (message: how)."""


def swap_production(conn, model_id: int, compared_with: int | None) -> None:
    """Make ``model_id`` production in place of ``compared_with``, only if that is still production.

    A compare-and-swap in the caller's transaction: ``compared_with`` (the production model the
    candidate was compared with, ``None`` for "there was none") is retired only while it is
    still production, and ``model_id`` is promoted only while it is still a candidate and no
    other model is production. Promotions are serialised by a transaction-level advisory lock, so
    of two concurrent promotions from the same production model one wins and the other changes
    nothing.

    Raises
    ------
    PromotionConflict
        Production is no longer ``compared_with``, or ``model_id`` no longer a candidate; the
        caller's transaction must be rolled back (leaving the block of ``engine.begin()`` with
        the exception does that).
    """
    conn.execute(query("advisory_xact_lock"), {"k": _PROMOTION_LOCK})
    production = production_model(conn)
    current = production.model_id if production is not None else None
    if current != compared_with:
        was = f"model {compared_with}" if compared_with is not None else "no production model"
        now = f"model {current}" if current is not None else "none"
        raise PromotionConflict(
            f"lost to a concurrent promotion: it was compared with {was}, but production is now {now}; "
            "rerun evaluate_and_promote to compare it with the current production model"
        )
    if compared_with is not None:
        retired = conn.execute(query("retire_production_model"), {"p": compared_with})
        if retired.rowcount != 1:  # changed by a writer that does not take the lock
            raise PromotionConflict(
                f"lost to a concurrent promotion: production model {compared_with}, which it was compared "
                "with, was retired meanwhile; rerun evaluate_and_promote to compare it with the current one"
            )
    try:
        promoted = conn.execute(query("promote_candidate_model"), {"m": model_id})
    except sa.exc.IntegrityError as exc:  # models_one_production: another model became production meanwhile
        raise PromotionConflict(
            "lost to a concurrent promotion: another model became production meanwhile; rerun "
            "evaluate_and_promote to compare it with the current one"
        ) from exc
    if promoted.rowcount != 1:
        raise PromotionConflict(f"model {model_id} is no longer a candidate (its status changed meanwhile)")
