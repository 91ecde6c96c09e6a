"""Hostile and broken input against the real services (issue 6 §4).

Every bad file, task or region is quarantined with a reason that says what is wrong, and the
rest of the run goes on. Steps are driven as the DAGs drive them: ``tasks.intake.ingest_files``
and ``tasks.annotation_sync.export_annotations`` / ``ingest_export``.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import struct
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from linerec.vision import images

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------ helpers
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb_png(side: int) -> bytes:
    """A real ``side`` x ``side`` grayscale PNG of zeros: tiny on disk, huge once decoded."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, height), 255).save(buf, format="PNG")
    return buf.getvalue()


def _pdf(n_pages: int) -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(n_pages):
        pdf.new_page(200, 300)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()


def _quarantine(engine, stage: str) -> list:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT item_ref, reason, raw FROM quarantine WHERE stage = :s"), {"s": stage}
        ).all()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from linerec.synth.pages import generate_corpus

    return generate_corpus(tmp_path_factory.mktemp("hostile") / "c", n_documents=4, seed=61, pages_per_document=(1, 1))


# ------------------------------------------------------------------------------------------ intake
def test_hostile_scan_files_are_quarantined_and_the_rest_registered(isolated_pipeline, corpus, tmp_path):
    from tasks.intake import ingest_files

    good = sorted((corpus.parent / "images").glob("*.png"))[0]
    whole = good.read_bytes()
    hostile = {  # file name -> (bytes, what the reason must say)
        "truncated.png": (whole[: len(whole) // 2], r"truncated.png: unreadable image"),
        "corrupt.jpg": (b"\xff\xd8\xff\xe0" + os.urandom(64), r"corrupt.jpg: unreadable image"),
        "empty.png": (b"", r"empty.png: empty file"),
        "bomb.png": (_bomb_png(8000), rf"bomb.png: 8000x8000 exceeds the page pixel limit {images.MAX_PIXELS}"),
        "one-pixel-high.png": (_png(600, 1), r"one-pixel-high.png: implausible page size 600x1"),
        "too-many-pages.pdf": (
            _pdf(images.MAX_PAGES + 1),
            rf"too-many-pages.pdf: {images.MAX_PAGES + 1} pages exceed the limit of "
            rf"{images.MAX_PAGES} pages per file",
        ),
        "not-an-image.png": (
            b"this is a shopping list, not a scan\n" * 20,
            r"not-an-image.png: unreadable image \(UnidentifiedImageError: cannot identify image "
            r"file\)$",
        ),  # no object address: the same file always gives the same reason
        "zero-page.pdf": (_pdf(0), r"zero-page.pdf: (PDF has no pages|unreadable PDF)"),
    }
    paths = []
    for name, (data, _) in hostile.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    paths.insert(3, str(good))  # a good file in the middle: the run goes on past the bad ones
    paths.append(str(tmp_path / "vanished.png"))  # listed but not there

    result = ingest_files(paths)

    by_path = {Path(f["path"]).name: f for f in result["files"]}
    assert by_path[good.name]["status"] == "registered" and by_path[good.name]["pages"] == 1
    assert len(result["pages"]) == 1
    assert result["rejected"] == len(hostile) + 1
    rows = {r.item_ref: r for r in _quarantine(isolated_pipeline, "intake")}
    for name, (_data, reason) in hostile.items():
        assert by_path[name]["status"] == "quarantined", name
        row = rows[f"file:{by_path[name]['sha256']}"]
        assert re.match(reason, row.reason), (name, row.reason)
        assert row.raw["name"] == name
    assert "vanished.png" in rows["file:vanished.png"].reason
    with isolated_pipeline.connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM intake_files GROUP BY 1")).all())
    assert statuses == {"registered": 1, "quarantined": len(hostile)}

    # Submitting the same bad files again is a no-op that gives the same answer.
    again = ingest_files(paths)
    assert again["rejected"] == result["rejected"] and again["pages"] == result["pages"]
    assert len(_quarantine(isolated_pipeline, "intake")) == len(rows)


def test_bomb_is_refused_before_its_pixels_are_decoded(monkeypatch):
    from PIL import Image

    def no_load(self):  # the bomb's header is read, its pixels must never be
        raise AssertionError("pixels of an oversized image were decoded")

    monkeypatch.setattr(Image.Image, "load", no_load)
    from PIL import PngImagePlugin

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_load)
    with pytest.raises(images.BadImage, match="exceeds the page pixel limit"):
        images.decode_page(_bomb_png(8000), "bomb.png")


def test_non_utf8_file_name_is_registered_with_a_readable_name(isolated_pipeline, corpus, tmp_path):
    from tasks.intake import ingest_files

    good = sorted((corpus.parent / "images").glob("*.png"))[1]
    raw_name = b"scan-\xff\xfe-latin1-\xe9t\xe9.png"  # not UTF-8
    path = os.path.join(os.fsencode(tmp_path), raw_name)
    with open(path, "wb") as fh:
        fh.write(good.read_bytes())
    bad_empty = os.path.join(os.fsencode(tmp_path), b"empty-\xff.png")
    open(bad_empty, "wb").close()

    result = ingest_files([os.fsdecode(path), os.fsdecode(bad_empty)])

    assert [f["status"] for f in result["files"]] == ["registered", "quarantined"]
    sha = result["files"][0]["sha256"]
    with isolated_pipeline.connect() as conn:
        name = conn.execute(
            sa.text("SELECT d.name FROM intake_files f JOIN documents d USING (document_id) WHERE f.sha256 = :s"),
            {"s": sha},
        ).scalar_one()
        reason = conn.execute(
            sa.text("SELECT reason FROM quarantine WHERE item_ref = :r"), {"r": f"file:{result['files'][1]['sha256']}"}
        ).scalar_one()
    assert name.startswith("scan-") and name.endswith(sha[:12])
    name.encode("utf-8")  # stored as valid text
    assert "empty file" in reason


# ------------------------------------------------------------------------------------------ exports
def _export(path: Path, tasks) -> str:
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return str(path)


def test_malformed_export_file_is_a_clear_error_naming_the_file(isolated_pipeline, corpus, tmp_path):
    from tasks.annotation_sync import export_annotations, ingest_export

    text = corpus.read_text()
    cut = tmp_path / "cut-short.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"cut-short\.json.*invalid JSON"):
        ingest_export(export_annotations(str(cut)))

    not_a_list = tmp_path / "an-object.json"
    not_a_list.write_text('{"tasks": []}')
    with pytest.raises(ValueError, match=r"an-object\.json.*expected a JSON list"):
        ingest_export(export_annotations(str(not_a_list)))

    with pytest.raises(FileNotFoundError, match="missing.json"):
        export_annotations(str(tmp_path / "missing.json"))


def test_hostile_tasks_and_regions_are_quarantined_and_the_rest_ingested(
    isolated_pipeline, corpus, tmp_path, table_counts
):
    from linerec.labelstudio.fields import MAX_TEXT_CHARS
    from tasks.annotation_sync import export_annotations, ingest_export

    tasks = json.loads(corpus.read_text())
    template = copy.deepcopy(tasks[0])

    def region(task: dict, n: int) -> tuple[dict, dict]:
        """The rectangle and textarea items of the task's n-th region."""
        result = task["annotations"][0]["result"]
        rid = [r["id"] for r in result if r["type"] == "rectangle"][n]
        return (
            next(r for r in result if r["id"] == rid and r["type"] == "rectangle"),
            next(r for r in result if r["id"] == rid and r["type"] == "textarea"),
        )

    expected = {}  # quarantine item_ref -> reason pattern
    # Region-level damage in otherwise good tasks.
    box, text = region(tasks[0], 0)
    text["value"]["text"] = ["x" * 100_000]  # a 100 kB transcription
    expected[f"task:{tasks[0]['id']}/region:{box['id']}"] = (
        rf"transcription too long: 100000 characters \(limit {MAX_TEXT_CHARS}\)"
    )
    box, text = region(tasks[0], 1)
    box["value"]["x"] = "ten"  # wrong type
    expected[f"task:{tasks[0]['id']}/region:{box['id']}"] = r"value\.x: expected a finite number, got 'ten'"
    box, text = region(tasks[1], 0)
    box["value"]["x"], box["value"]["y"] = -500.0, -500.0  # wholly off the page (negative)
    expected[f"task:{tasks[1]['id']}/region:{box['id']}"] = r"box outside image"
    box, text = region(tasks[1], 1)
    box["value"]["x"] = 1e300  # huge
    expected[f"task:{tasks[1]['id']}/region:{box['id']}"] = r"box outside image|zero-area box"
    box, text = region(tasks[2], 0)
    box["value"]["width"], box["value"]["rotation"] = 1e12, 45  # huge rotated box, partly on the page
    expected[f"task:{tasks[2]['id']}/region:{box['id']}"] = r"box larger than the image"
    box, text = region(tasks[2], 1)
    text["value"]["text"] = 42  # wrong type
    expected[f"task:{tasks[2]['id']}/region:{box['id']}"] = r"value\.text: expected a list of strings, got 42"
    box, text = region(tasks[3], 0)
    box["value"]["x"], box["value"]["width"] = -2.0, 10.0  # partly negative: clipped, kept
    kept_clipped = (tasks[3]["id"], box["id"])

    # Whole tasks of the wrong type or shape.
    def clone(new_id, **changes):
        t = copy.deepcopy(template)
        t["id"] = new_id
        for k, v in changes.items():
            t[k] = v
        return t

    hostile_tasks = [
        "not a task",
        [1, 2, 3],
        clone("9001"),
        clone(9002, data=["image.png"]),
        clone(9003, data={"image": 12}),
        clone(2**70),
        clone(9004, data=dict(template["data"], page=2**40)),
        clone(9005, annotations="none"),
        clone(9006, data=dict(template["data"], image="/data/local-files/?d=images/absent.png")),
    ]
    big_ann = clone(9007)
    big_ann["annotations"][0]["id"] = 2**64
    hostile_tasks.append(big_ann)
    all_tasks = tasks + hostile_tasks
    n_regions = sum(len({r["id"] for r in t["annotations"][0]["result"]}) for t in tasks)

    hostile_file = corpus.parent / "hostile.json"  # next to the images its tasks refer to
    stats = ingest_export(export_annotations(_export(hostile_file, all_tasks)))

    assert stats["tasks"] == len(all_tasks)
    counts = table_counts()
    assert counts["line_annotations"] == n_regions - len(expected)
    with isolated_pipeline.connect() as conn:
        annotated_pages = conn.execute(
            sa.text("SELECT count(*) FROM pages JOIN documents USING (document_id) WHERE source = 'annotated'")
        ).scalar()
    assert annotated_pages == len(tasks)
    rows = _quarantine(isolated_pipeline, "annotation_sync")
    by_ref = {}
    for r in rows:
        by_ref.setdefault(r.item_ref, []).append(r.reason)
    for ref, pattern in expected.items():
        assert any(re.search(pattern, reason) for reason in by_ref.get(ref, [])), (ref, by_ref.get(ref))
    task_reasons = [r.reason for r in rows if "/region:" not in r.item_ref]
    for pattern in (
        r"task: expected an object, got str",
        r"task: expected an object, got list",
        r"^id: expected an integer, got '9001'",
        r"^data: expected an object",
        r"data\.image: expected a non-empty string, got 12",
        r"^id: .*out of range",
        r"data\.page: .*out of range",
        r"annotations: expected a list",
        r"absent\.png",
        r"annotations\[\]\.id: .*out of range",
    ):
        assert any(re.search(pattern, reason) for reason in task_reasons), (pattern, task_reasons)
    with isolated_pipeline.connect() as conn:
        clipped = conn.execute(
            sa.text("SELECT x, w FROM line_annotations WHERE ls_task_id = :t AND ls_region_id = :r"),
            {"t": kept_clipped[0], "r": kept_clipped[1]},
        ).one()
        longest = conn.execute(sa.text("SELECT max(length(text)) FROM line_annotations")).scalar()
    assert clipped.x == 0 and clipped.w > 0
    assert longest <= MAX_TEXT_CHARS

    # The same export again: nothing new, nothing duplicated.
    assert ingest_export(export_annotations(_export(hostile_file, all_tasks)))["already_ingested"]
    assert table_counts() == counts


def test_non_utf8_bytes_in_an_export_quarantine_their_region(isolated_pipeline, corpus, tmp_path, table_counts):
    from linerec.synth.pages import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export

    export = generate_corpus(tmp_path / "u", n_documents=2, seed=62, pages_per_document=(1, 1))
    tasks = json.loads(export.read_text())
    for t in tasks:  # task ids of their own in this module's database
        t["id"] += 500
    result = tasks[0]["annotations"][0]["result"]
    target = next(r for r in result if r["type"] == "textarea")
    target["value"]["text"] = ["@@BAD@@"]
    raw = json.dumps(tasks).encode("utf-8").replace(b"@@BAD@@", b"caf\xe9 \xff\xfe")  # Latin-1 and junk
    path = export.parent / "latin1.json"
    path.write_bytes(raw)
    table_counts()["line_annotations"]
    n_regions = sum(len({r["id"] for r in t["annotations"][0]["result"]}) for t in tasks)

    stats = ingest_export(export_annotations(str(path)))

    assert stats["tasks"] == len(tasks)
    with isolated_pipeline.connect() as conn:
        reason = conn.execute(
            sa.text("SELECT reason FROM quarantine WHERE item_ref = :r"),
            {"r": f"task:{tasks[0]['id']}/region:{target['id']}"},
        ).scalar_one()
        texts = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT text FROM line_annotations WHERE ls_task_id = ANY(:ids)"),
                {"ids": [t["id"] for t in tasks]},
            )
        ]
    assert "not valid UTF-8" in reason
    assert len(texts) == n_regions - 1 and not any("\ufffd" in t for t in texts)


# ------------------------------------------------------------------------------------------ S3 inbox
def test_hostile_objects_in_the_inbox_are_quarantined_and_the_rest_registered(isolated_pipeline, corpus):
    from tasks.context import store
    from tasks.intake import scan_inbox

    st = store()
    good = sorted((corpus.parent / "images").glob("*.png"))[2].read_bytes()
    objects = {  # uploaded by someone else's tool: keys linerec would never write itself
        "inbox/hostile/ok scan (1).png": good,
        "inbox/hostile/ünïcödé.png": _png(600, 2),  # (bytes unlike the files above: each file is new)
        "inbox/hostile/bomb.png": _bomb_png(7000),
        "inbox/hostile/one-byte.png": b"\x00",
        "inbox/hostile/'; DROP TABLE pages; --.jpg": b"not a jpeg",
    }
    for key, data in objects.items():
        st.client.put_object(Bucket=st.bucket, Key=key, Body=data)

    first = scan_inbox("inbox/hostile/")

    assert first == {"seen": 5, "new_files": 5, "new_pages": 1, "rejected": 4}
    with isolated_pipeline.connect() as conn:
        files = dict(conn.execute(sa.text("SELECT source_ref, status FROM intake_files WHERE source = 's3'")).all())
        reasons = [
            r[0]
            for r in conn.execute(
                sa.text(
                    "SELECT q.reason FROM quarantine q JOIN intake_files f ON q.item_ref = 'file:' || f.sha256 "
                    "WHERE f.source = 's3'"
                )
            )
        ]
    assert files == {k: ("registered" if k.endswith("(1).png") else "quarantined") for k in objects}
    assert any(r.startswith("ünïcödé.png: implausible page size 600x2") for r in reasons)
    assert any(r.startswith("bomb.png: 7000x7000 exceeds the page pixel limit") for r in reasons)
    assert scan_inbox("inbox/hostile/") == {"seen": 5, "new_files": 0, "new_pages": 0, "rejected": 0}
