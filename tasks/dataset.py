"""Training sets (the training DAG's ``build_dataset``): versioned, reproducible line crops + text in
sharded TFRecords.

The version is a content hash of the items, their split and the line config, so building from
unchanged annotations returns the existing version instead of a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from linerec.infra.db import query
from tasks.context import engine, quarantine, store

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def split_documents(names: list[str], seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict[str, str]:
    """Assign each document to one split, deterministically from its name and ``seed``.

    Documents are ordered by a keyed hash and cut by ``fractions``; with three or more
    documents, val and test each get at least one. No document spans two splits.
    """
    ordered = sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())
    n = len(ordered)
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
    n_train = n - n_val - n_test
    out = {}
    for i, name in enumerate(ordered):
        out[name] = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
    return out


def context_box(
    bbox: tuple[float, float, float, float], rotation: float, context: float
) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    """A line box grown by ``context`` x its height on every side, in the box's own frame.

    Parameters
    ----------
    bbox : tuple of float
        ``(x, y, w, h)``, turned ``rotation`` degrees clockwise about ``(x, y)``
        (:func:`linerec.vision.crop.crop_line`'s convention).
    rotation : float
        Degrees.
    context : float
        Margin as a fraction of ``h``.

    Returns
    -------
    box : tuple of float
        The grown ``(x, y, w, h)`` with the same rotation.
    offset : tuple of float
        Where the original box starts inside the grown one, ``(m, m)``.
    """
    import math

    x, y, w, h = (float(v) for v in bbox)
    m = context * h
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    # Step (-m, -m) along the box's own axes from its top-left corner.
    return (x - m * c + m * s, y - m * s - m * c, w + 2 * m, h + 2 * m), (m, m)


def cut_with_context(page, r, context: float):
    """Crop line annotation ``r`` from ``page`` with context; returns ``(crop, box inside it)``.

    Unrotated boxes are clipped to the page, so near an edge the context is smaller on that side.
    """
    from linerec.vision.crop import crop_line

    rotation = float(r.rotation or 0.0)
    x, y, w, h = (int(round(float(v))) for v in (r.x, r.y, r.w, r.h))
    if rotation % 360 != 0:
        grown, (mx, my) = context_box((x, y, w, h), rotation, context)
        gx0, gy0, gw, gh = grown  # crop_line rounds the box to whole pixels: the same done here
        crop = crop_line(page, (round(gx0), round(gy0), round(gw), round(gh)), rotation=rotation)
        gx, gy = int(round(mx)), int(round(my))
        return crop, (gx, gy, min(w, crop.shape[1] - gx), min(h, crop.shape[0] - gy))
    m = int(round(context * h))
    page_h, page_w = page.shape
    x0, y0 = min(max(x - m, 0), page_w), min(max(y - m, 0), page_h)
    crop = crop_line(page, (x0, y0, x + w + m - x0, y + h + m - y0))
    bx0, by0 = min(max(x, 0), page_w) - x0, min(max(y, 0), page_h) - y0
    bx1, by1 = min(max(x + w, 0), page_w) - x0, min(max(y + h, 0), page_h) - y0
    return crop, (bx0, by0, bx1 - bx0, by1 - by0)


def build_dataset(seed: int = 0, shard_size: int = 2000, x_scale: float | None = None) -> int:
    """Build (or find) the dataset version for the current line annotations.

    Each line is stored with context around its box (:data:`linerec.datasets.shards.CONTEXT`), so
    training can frame it as loosely as line detectors do; a page whose task says its
    transcriptions are upper-cased (``transcription_case: "upper"``) gives case-folded lines.

    Parameters
    ----------
    seed : int
        Split seed (documents are assigned to train/val/test by a keyed hash).
    shard_size : int
        Records per shard.
    x_scale : float, optional
        :attr:`linerec.model.preprocessing.LineConfig.x_scale` of the dataset (default: the
        library's default).

    Returns
    -------
    int
        ``dataset_version_id``.
    """
    from linerec.datasets.shards import CONTEXT, LineExample, write_shards
    from linerec.model.preprocessing import LineConfig
    from linerec.vision.images import decode_page

    cfg = LineConfig() if x_scale is None else LineConfig(x_scale=x_scale)
    eng = engine()
    with eng.connect() as conn:
        rows = conn.execute(query("dataset_source_lines")).all()
    if not rows:
        raise ValueError("no line annotations to build a dataset from; run annotation_sync first")
    split_of = split_documents(sorted({r.document for r in rows}), seed)
    items, bad = [], []
    for r in rows:
        try:
            cfg.charset.encode(r.text)
            items.append(r)
        except ValueError as exc:
            bad.append((r, str(exc)))
    items.sort(key=lambda r: (SPLITS.index(split_of[r.document]), r.page_key, r.line_annotation_id))
    export_id = max(r.export_id for r in items)
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "config": cfg.to_dict(),
                "seed": seed,
                "shard_size": shard_size,
                "context": CONTEXT,
                "items": [
                    [r.line_annotation_id, split_of[r.document], r.text, r.x, r.y, r.w, r.h, r.page_sha]
                    + ([r.rotation] if r.rotation else [])
                    + (["case_folded"] if r.case_folded else [])
                    for r in items
                ],
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    version = f"ds-{fingerprint[:16]}"
    with eng.begin() as conn:
        for r, reason in bad:
            quarantine(
                conn, "dataset", f"line_annotation:{r.line_annotation_id}", reason, {"text": r.text}, r.export_id
            )
        existing = conn.execute(query("dataset_version_id"), {"v": version}).scalar()
    if existing:
        log.info("dataset %s already built (id %s)", version, existing)
        return existing

    st = store()
    pages: dict[str, object] = {}
    by_split = defaultdict(list)
    bad_crops = []
    for r in items:
        if r.page_key not in pages:
            pages.clear()  # items are grouped by page within a split: keep one page in memory
            pages[r.page_key] = decode_page(st.get_bytes(r.page_key), r.page_key)
        crop, box = cut_with_context(pages[r.page_key], r, CONTEXT)
        if box[2] < 1 or box[3] < 1:
            bad_crops.append((r, f"line box {(r.x, r.y, r.w, r.h)} lies outside its page"))
            continue
        by_split[split_of[r.document]].append(
            LineExample(crop, r.text, str(r.line_annotation_id), box, bool(r.case_folded))
        )
    tmp = Path(tempfile.mkdtemp(prefix="dataset-"))
    try:
        manifest = {
            "dataset_version": version,
            "export_id": export_id,
            "seed": seed,
            "config": cfg.to_dict(),
            "context": CONTEXT,
            "splits": {},
        }
        shard_of = {}
        for split in SPLITS:
            examples = by_split.get(split, [])
            files = write_shards(examples, tmp, prefix=split, shard_size=shard_size) if examples else []
            manifest["splits"][split] = files
            for i, ex in enumerate(examples):
                shard_of[int(ex.example_id)] = files[i // shard_size]["file"]
            for f in files:
                st.put_file(f"datasets/{version}/{f['file']}", tmp / f["file"])
        manifest_key = f"datasets/{version}/manifest.json"
        st.put_bytes(manifest_key, json.dumps(manifest, indent=2, sort_keys=True).encode(), "application/json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    counts = {s: len(by_split.get(s, [])) for s in SPLITS}
    if not any(counts.values()):
        raise ValueError("no line annotation gave a crop; see the quarantine")
    with eng.begin() as conn:
        dv_id = conn.execute(
            query("upsert_dataset_version"),
            {
                "v": version,
                "e": export_id,
                "k": manifest_key,
                "c": json.dumps(cfg.to_dict()),
                "tr": counts["train"],
                "va": counts["val"],
                "te": counts["test"],
            },
        ).scalar_one()
        conn.execute(
            query("insert_dataset_items"),
            [
                {
                    "dv": dv_id,
                    "la": r.line_annotation_id,
                    "split": split_of[r.document],
                    "text": r.text,
                    "shard": shard_of[r.line_annotation_id],
                }
                for r in items
                if r.line_annotation_id in shard_of
            ],
        )
        for r, reason in bad_crops:
            quarantine(
                conn, "dataset", f"line_annotation:{r.line_annotation_id}", reason, {"text": r.text}, r.export_id
            )
    log.info("built dataset %s (id %s): %s", version, dv_id, counts)
    return dv_id


def find_dataset_version(version: str) -> int:
    """The id of an existing dataset version named ``version`` (e.g. ``ds-0123abcd...``)."""
    with engine().connect() as conn:
        found = conn.execute(query("dataset_version_id"), {"v": version}).scalar()
    if found is None:
        raise ValueError(f"dataset version {version!r} does not exist")
    return found
