"""Registering the model shipped in the repository as the first production model.

The shipped model was trained by this project's own pipeline (see its MODEL_CARD.md);
``lineage.json`` beside it records the annotation export and dataset version it came from,
so predictions made with it keep the same lineage as those of models trained here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa

from linerec.config import get_settings
from tasks.context import engine, store

log = logging.getLogger(__name__)


def register_bundled_model(model_dir: str | Path | None = None, status: str = "production") -> dict:
    """Register the shipped model as production if no production model exists yet.

    Parameters
    ----------
    model_dir
        A model folder with ``lineage.json``; default the shipped model.
    status
        ``"production"``: registered only while there is no production model (bootstrap).
        ``"candidate"``: registered beside the production model (to warm-start training from it).

    Returns
    -------
    dict
        ``model_id`` (``None`` when a production model kept it out), ``version`` and whether it
        was ``registered`` now. A version already registered returns its id.
    """
    if status not in ("production", "candidate"):
        raise ValueError(f"status must be 'production' or 'candidate', got {status!r}")
    model_dir = Path(model_dir or get_settings().model_dir)
    lineage = json.loads((model_dir / "lineage.json").read_text())
    version = lineage["model_version"]
    eng = engine()
    with eng.connect() as conn:
        existing = conn.execute(sa.text("SELECT model_id FROM models WHERE version = :v"), {"v": version}).scalar()
        has_production = conn.execute(sa.text("SELECT 1 FROM models WHERE status = 'production'")).scalar()
    if existing or (has_production and status == "production"):
        return {"model_id": existing, "version": version, "registered": False}
    st = store()
    prefix = f"models/{version}/"
    for path in sorted(model_dir.iterdir()):
        if path.is_file():
            st.put_file(prefix + path.name, path)
    ds = lineage["dataset"]
    with eng.begin() as conn:
        export_id = conn.execute(sa.text(
            "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key, tasks_seen, lines_ingested, rejected, "
            "ingested_at) VALUES ('bundled', :ref, :sha, :key, :tasks, :lines, 0, now()) "
            "ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256 RETURNING export_id"),
            {"ref": lineage["export"]["source_ref"], "sha": lineage["export"]["sha256"], "key": prefix + "lineage.json",
             "tasks": lineage["export"]["tasks"], "lines": lineage["export"]["lines"]}).scalar_one()
        dv_id = conn.execute(sa.text(
            "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
            "VALUES (:v, :e, :k, CAST(:c AS jsonb), :tr, :va, :te) "
            "ON CONFLICT (version) DO UPDATE SET version = EXCLUDED.version RETURNING dataset_version_id"),
            {"v": ds["version"], "e": export_id, "k": prefix + "lineage.json", "c": json.dumps(ds["config"]),
             "tr": ds["n_train"], "va": ds["n_val"], "te": ds["n_test"]}).scalar_one()
        model_id = conn.execute(sa.text(
            "INSERT INTO models (version, dataset_version_id, s3_prefix, metrics, status, promoted_at) "
            "VALUES (:v, :dv, :p, CAST(:m AS jsonb), :s, CASE WHEN :s = 'production' THEN now() END) "
            "RETURNING model_id"),
            {"v": version, "dv": dv_id, "p": prefix, "m": json.dumps(lineage.get("metrics", {})),
             "s": status}).scalar_one()
    log.info("registered shipped model %s as %s (id %s)", version, status, model_id)
    return {"model_id": model_id, "version": version, "registered": True}
