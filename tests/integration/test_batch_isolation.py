"""One bad page never fails its recognition batch (issue 14 item 7), and the bytes recognition
reads are those recorded: pages by ``pages.sha256`` (a mismatch is quarantined), model files by
``model_files`` (a mismatch is an error, the model is never loaded).

Real Postgres, S3 and model; the pages go bad by real means (object deleted, replaced, corrupted).
Only segmentation's failure is injected (a fault real input cannot be made to produce on demand).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(isolated_pipeline, tmp_path_factory) -> dict:
    """The shipped model under a version of its own (this module tampers with its files)."""
    from linerec.infra.config import get_settings
    from tasks.registry import register_bundled_model

    folder = tmp_path_factory.mktemp("model")
    for path in get_settings().model_dir.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    lineage = json.loads((folder / "lineage.json").read_text())
    lineage["model_version"] = "crnn-isolation-test"
    (folder / "lineage.json").write_text(json.dumps(lineage))
    return register_bundled_model(folder)


def test_bad_pages_are_quarantined_and_the_rest_of_the_batch_is_read(isolated_pipeline, model, tmp_path, monkeypatch):
    from linerec.infra.storage import sha256_bytes
    from linerec.synth.pages import generate_corpus
    from linerec.vision.images import decode_page
    from tasks import nightly_recognition as rec
    from tasks.context import store
    from tasks.intake import ingest_files

    st = store()
    scans = generate_corpus(tmp_path / "scans", n_documents=6, seed=147, pages_per_document=(1, 1))
    page_ids = ingest_files([str(p) for p in sorted((scans.parent / "images").glob("*.png"))])["pages"]
    with isolated_pipeline.connect() as conn:
        key_of = dict(
            conn.execute(sa.text("SELECT page_id, s3_key FROM pages WHERE page_id = ANY(:p)"), {"p": page_ids}).all()
        )
    good, missing, replaced, corrupt, unsegmentable, good_last = page_ids

    st.client.delete_object(Bucket=st.bucket, Key=key_of[missing])
    st.client.put_object(Bucket=st.bucket, Key=key_of[replaced], Body=st.get_bytes(key_of[good]))
    broken = b"\x89PNG\r\n\x1a\n not really a PNG"
    st.client.put_object(Bucket=st.bucket, Key=key_of[corrupt], Body=broken)
    with isolated_pipeline.begin() as conn:  # recorded as such: the sha256 check passes, decoding fails
        conn.execute(
            sa.text("UPDATE pages SET sha256 = :s WHERE page_id = :p"), {"s": sha256_bytes(broken), "p": corrupt}
        )

    import linerec.vision.layout

    target = decode_page(st.get_bytes(key_of[unsegmentable]))
    real_analyze = linerec.vision.layout.analyze_page

    def analyze_page(image, *args, **kwargs):
        if image.shape == target.shape and np.array_equal(image, target):
            raise IndexError("index 4096 is out of bounds for axis 0 with size 4096")
        return real_analyze(image, *args, **kwargs)

    monkeypatch.setattr(linerec.vision.layout, "analyze_page", analyze_page)
    run_id = rec.open_recognition_run("2026-12-02", model["version"])

    stats = rec.recognize_batch(run_id, page_ids)

    assert stats["pages"] == len(page_ids)
    with isolated_pipeline.connect() as conn:
        results = {
            r.page_id: (r.lines, r.error)
            for r in conn.execute(
                sa.text("SELECT page_id, lines, error FROM page_results WHERE recognition_run_id = :r"), {"r": run_id}
            )
        }
        quarantined = dict(
            conn.execute(sa.text("SELECT item_ref, reason FROM quarantine WHERE stage = 'recognition'")).all()
        )
        lines = dict(
            conn.execute(
                sa.text("SELECT page_id, count(*) FROM predictions WHERE recognition_run_id = :r GROUP BY page_id"),
                {"r": run_id},
            ).all()
        )
    expected = {
        missing: "no such object",
        replaced: "bytes differ from the recorded sha256",
        corrupt: "unreadable image",
        unsegmentable: "segmentation failed (IndexError",
    }
    for page_id, reason in expected.items():
        assert results[page_id][0] == 0 and reason in results[page_id][1], (page_id, results[page_id])
        assert reason in quarantined[f"page:{page_id}"]
        assert page_id not in lines
    for page_id in (good, good_last):
        assert results[page_id][1] is None and results[page_id][0] == lines[page_id] > 0
    assert stats["lines"] == stats["inserted"] == sum(lines.values())

    before = dict(lines)
    again = rec.recognize_batch(run_id, page_ids)  # a rerun: every page has its result, nothing new
    assert again["inserted"] == 0 and again["pages"] == 0
    with isolated_pipeline.connect() as conn:
        assert (
            dict(
                conn.execute(
                    sa.text("SELECT page_id, count(*) FROM predictions WHERE recognition_run_id = :r GROUP BY page_id"),
                    {"r": run_id},
                ).all()
            )
            == before
        )


def test_model_files_must_have_their_recorded_sha256(isolated_pipeline, model):
    from linerec.infra.config import get_settings
    from tasks.context import store
    from tasks.registry import download_model

    st = store()
    folder = download_model(model["model_id"])
    with isolated_pipeline.connect() as conn:
        recorded = dict(
            conn.execute(
                sa.text("SELECT name, sha256 FROM model_files WHERE model_id = :m"), {"m": model["model_id"]}
            ).all()
        )
    assert recorded and recorded == {
        p.name: st.head(f"models/{model['version']}/{p.name}")["metadata"]["sha256"]
        for p in folder.iterdir()
        if p.is_file()
    }
    assert folder == get_settings().cache_dir / "models" / model["version"]

    # A cached file altered on disk is fetched again (S3 still holds the recorded bytes).
    config = folder / "config.json"
    original = config.read_bytes()
    config.write_bytes(original.replace(b"{", b"{ ", 1))
    download_model(model["model_id"])
    assert config.read_bytes() == original

    # The object replaced in S3 (with matching metadata, as its writer would): refused, never loaded.
    key = f"models/{model['version']}/config.json"
    st.put_bytes(key, original.replace(b"{", b"{ ", 1), "application/json")
    shutil.rmtree(folder)
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_model(model["model_id"])
    st.put_bytes(key, original, "application/json")
    assert download_model(model["model_id"]) == folder

    # A file added to the model's prefix is not part of the model as recorded.
    st.put_bytes(f"models/{model['version']}/extra.py", b"print('hello')")
    with pytest.raises(ValueError, match="not those recorded"):
        download_model(model["model_id"])
    st.client.delete_object(Bucket=st.bucket, Key=f"models/{model['version']}/extra.py")


class _FailingOn:
    """A recognizer that fails (as a runtime error would) on every call holding one of ``crops``."""

    def __init__(self, recognizer, crops):
        self.recognizer, self.crops = recognizer, crops

    def recognize(self, crops):
        if self.crops is None or any(c.shape == t.shape and np.array_equal(c, t) for c in crops for t in self.crops):
            raise RuntimeError("inference failed")
        return self.recognizer.recognize(crops)


def test_a_page_whose_lines_fail_recognition_is_quarantined_alone(isolated_pipeline, model, tmp_path, monkeypatch):
    from linerec.infra.db import query
    from linerec.synth.pages import generate_corpus
    from tasks import nightly_recognition as rec
    from tasks.context import store
    from tasks.intake import ingest_files
    from tasks.pages import model_recognizer, read_page

    scans = generate_corpus(tmp_path / "scans", n_documents=3, seed=148, pages_per_document=(1, 1))
    page_ids = ingest_files([str(p) for p in sorted((scans.parent / "images").glob("*.png"))])["pages"]
    with isolated_pipeline.connect() as conn:
        pages = conn.execute(query("batch_pages"), {"model": model["model_id"], "ids": page_ids}).all()
    target = read_page(store(), pages[1])["crops"]
    real = model_recognizer(model["model_id"])

    # Everything fails: not a page's fault. The batch fails and writes nothing.
    monkeypatch.setattr(rec, "model_recognizer", lambda model_id: _FailingOn(real, None))
    run_id = rec.open_recognition_run("2026-12-03", model["version"])
    with pytest.raises(RuntimeError, match="inference failed"):
        rec.recognize_batch(run_id, page_ids)
    with isolated_pipeline.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM page_results WHERE recognition_run_id = :r"), {"r": run_id}
            ).scalar()
            == 0
        )

    # One page's lines fail: that page is quarantined, the others are read.
    monkeypatch.setattr(rec, "model_recognizer", lambda model_id: _FailingOn(real, target))
    stats = rec.recognize_batch(run_id, page_ids)
    with isolated_pipeline.connect() as conn:
        results = {
            r.page_id: (r.lines, r.error)
            for r in conn.execute(
                sa.text("SELECT page_id, lines, error FROM page_results WHERE recognition_run_id = :r"), {"r": run_id}
            )
        }
    assert stats["pages"] == 3 and "recognition failed (RuntimeError: inference failed)" in results[page_ids[1]][1]
    assert all(results[p][1] is None and results[p][0] > 0 for p in (page_ids[0], page_ids[2]))
