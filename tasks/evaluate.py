"""Step 4: evaluate a model on a dataset version's test split, and promote on a better CER."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from linerec.config import get_settings
from tasks.context import engine
from tasks.dataset import fetch_dataset
from tasks.training import download_model

log = logging.getLogger(__name__)


def evaluate_model(model_id: int, dataset_version_id: int | None = None, split: str = "test") -> float:
    """Corpus CER of ``model_id`` on ``split`` of a dataset version (default: the model's own).

    The result is stored in ``evaluations``; an existing evaluation is returned as is.
    """
    from linerec.evaluation import evaluate_cer
    from linerec.inference import Recognizer

    eng = engine()
    with eng.connect() as conn:
        if dataset_version_id is None:
            dataset_version_id = conn.execute(sa.text("SELECT dataset_version_id FROM models WHERE model_id = :m"),
                                              {"m": model_id}).scalar_one()
        done = conn.execute(sa.text("SELECT cer FROM evaluations WHERE model_id = :m AND dataset_version_id = :d "
                                    "AND split = :s"), {"m": model_id, "d": dataset_version_id, "s": split}).scalar()
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
        conn.execute(sa.text(
            "INSERT INTO evaluations (model_id, dataset_version_id, split, cer, n_lines) "
            "VALUES (:m, :d, :s, :c, :n) ON CONFLICT (model_id, dataset_version_id, split) DO NOTHING"),
            {"m": model_id, "d": dataset_version_id, "s": split, "c": cer, "n": n_lines})
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
        status, dv = conn.execute(sa.text("SELECT status, dataset_version_id FROM models WHERE model_id = :m"),
                                  {"m": model_id}).one()
        prod = conn.execute(sa.text("SELECT model_id FROM models WHERE status = 'production'")).scalar()
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
        with eng.begin() as conn:
            conn.execute(sa.text("UPDATE models SET status = 'retired' WHERE status = 'production'"))
            conn.execute(sa.text("UPDATE models SET status = 'production', promoted_at = now() "
                                 "WHERE model_id = :m AND status = 'candidate'"), {"m": model_id})
    result = {"model_id": model_id, "production_model_id": prod, "candidate_cer": cand_cer,
              "production_cer": prod_cer, **decision}
    log.info("promotion decision: %s", result)
    return result
