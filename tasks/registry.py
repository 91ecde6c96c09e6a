"""What the pipeline has recorded, shared by the steps: dataset versions, models, the Label Studio project.

Steps find the production model (:func:`production_model`), a dataset version's shards
(:func:`fetch_dataset`), a registered model's files (:func:`download_model`) and the recorded Label
Studio project (:func:`recorded_project_id`) here rather than in each other's modules.

:func:`register_bundled_model` registers the model shipped in the repository as the first
production model. The shipped model was trained by this project's own pipeline (see its MODEL_CARD.md);
``lineage.json`` beside it records the annotation export and dataset version it came from,
so predictions made with it keep the same lineage as those of models trained here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa

from linerec.infra.config import get_settings
from linerec.infra.db import query
from tasks.context import engine, store

log = logging.getLogger(__name__)


def production_model(conn: sa.Connection) -> sa.Row | None:
    """The production model's ``model_id`` and ``version``, or ``None`` when there is none.

    Every step that needs the production model asks here; at most one model is production (the
    ``models_one_production`` index).
    """
    return conn.execute(query("production_model")).first()


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
        existing = conn.execute(query("model_id_by_version"), {"v": version}).scalar()
        has_production = production_model(conn) is not None
    if existing or (has_production and status == "production"):
        return {"model_id": existing, "version": version, "registered": False}
    st = store()
    prefix = f"models/{version}/"
    for path in sorted(model_dir.iterdir()):
        if path.is_file():
            st.put_file(prefix + path.name, path)
    ds = lineage["dataset"]
    with eng.begin() as conn:
        export = lineage["export"]
        export_id = conn.execute(
            query("upsert_bundled_export"),
            {
                "ref": export["source_ref"],
                "sha": export["sha256"],
                "key": prefix + "lineage.json",
                "tasks": export["tasks"],
                "lines": export["lines"],
            },
        ).scalar_one()
        dv_id = conn.execute(
            query("upsert_dataset_version"),
            {
                "v": ds["version"],
                "e": export_id,
                "k": prefix + "lineage.json",
                "c": json.dumps(ds["config"]),
                "tr": ds["n_train"],
                "va": ds["n_val"],
                "te": ds["n_test"],
            },
        ).scalar_one()
        model_id = conn.execute(
            query("register_model"),
            {
                "v": version,
                "dv": dv_id,
                "run": None,
                "p": prefix,
                "m": json.dumps(lineage.get("metrics", {})),
                "s": status,
            },
        ).scalar_one()
    log.info("registered shipped model %s as %s (id %s)", version, status, model_id)
    return {"model_id": model_id, "version": version, "registered": True}


def fetch_dataset(dataset_version_id: int, dest_root: Path) -> Path:
    """Download a dataset version's manifest and shards (checksums verified) to a local folder."""
    st = store()
    with engine().connect() as conn:
        row = conn.execute(query("dataset_version"), {"id": dataset_version_id}).one()
    version, manifest_key = row.version, row.manifest_key
    dest = Path(dest_root) / version
    dest.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(st.get_bytes(manifest_key))
    for files in manifest["splits"].values():
        for f in files:
            st.download(f"datasets/{version}/{f['file']}", dest / f["file"], f["sha256"])
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return dest


def download_model(model_id: int) -> Path:
    """Fetch a registered model's files from S3 into the local cache, checked; returns the folder.

    Every file, cached or downloaded, must have the sha256 recorded for it in ``model_files``.
    A model's first download records them, from the ``sha256`` metadata its upload wrote (checked
    against the bytes). A model file whose bytes differ from the record (replaced in S3 or in the
    cache) is downloaded again, and if it still differs, or a file was added to or removed from
    the model since, it is an error: a model is never loaded from unverified files.

    Raises
    ------
    ValueError
        A file's bytes differ from its recorded sha256, or the model's files are not those recorded.
    """
    from linerec.infra.storage import sha256_file

    settings = get_settings()
    st = store()
    eng = engine()
    with eng.connect() as conn:
        model = conn.execute(query("registered_model"), {"model": model_id}).one()
        version, prefix = model.version, model.s3_prefix
        recorded = {r.name: r.sha256 for r in conn.execute(query("model_files"), {"model": model_id})}
    dest = settings.cache_dir / "models" / version
    names = [key[len(prefix) :] for key in st.list_keys(prefix)]
    if recorded and set(names) != set(recorded):
        raise ValueError(
            f"model {version}: files in {st.uri(prefix)} {sorted(names)} are not those recorded {sorted(recorded)}"
        )
    new = []
    for name in names:
        target = dest / name
        expected = recorded.get(name)
        if expected is None:  # first download: the digest the upload recorded beside the object
            expected = st.head(prefix + name)["metadata"].get("sha256")
        st.download(prefix + name, target, expected)  # a cached file with these bytes is kept
        if name not in recorded:
            new.append(
                {
                    "model": model_id,
                    "name": name,
                    "sha": expected or sha256_file(target),
                    "n_bytes": target.stat().st_size,
                }
            )
    if new:
        with eng.begin() as conn:
            conn.execute(query("record_model_file"), new)
        log.info("model %s: recorded the sha256 of %d files", version, len(new))
    return dest


def recorded_project_id(url: str) -> int | None:
    """The project ``linerec labelstudio setup`` recorded for the server at ``url``, if exactly one."""
    with engine().connect() as conn:
        ids = conn.execute(query("labelstudio_project_ids"), {"u": url.rstrip("/")}).scalars().all()
    return ids[0] if len(ids) == 1 else None
