"""Annotation sync hardening (issue 14, items 1, 3, 5 and 8) against the real services.

One bad task never stops the sync; documents are scoped by source and a page's image is never
swapped by another task; ``export_file`` is read only inside the import folder and checked before
it is stored; ingests of one source are serialised and an older export never reverts a newer one.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow

W, H = 800, 400


def _png(seed: int) -> bytes:
    """A plausible page: white with a few dark bars placed by ``seed`` (distinct seeds, distinct bytes)."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (W, H), 255)
    draw = ImageDraw.Draw(image)
    for i in range(4):
        y = 40 + 80 * i
        draw.rectangle([40 + (seed * 7 + i * 13) % 60, y, 600 + (seed * 11) % 150, y + 30], fill=(seed * 37) % 120)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _region(rid: str, text, y: float = 10.0) -> list[dict]:
    common = {"id": rid, "to_name": "image", "original_width": W, "original_height": H}
    return [
        dict(
            common,
            type="rectangle",
            from_name="bbox",
            value={"x": 5.0, "y": y, "width": 70.0, "height": 8.0, "rotation": 0},
        ),
        dict(
            common,
            type="textarea",
            from_name="transcription",
            value={"text": text if isinstance(text, list) else [text]},
        ),
    ]


def _task(
    task_id: int,
    image: str,
    regions: list[list[dict]],
    updated: str = "2026-03-01T10:00:00+00:00",
    ann_id: int | None = None,
    **data,
) -> dict:
    return {
        "id": task_id,
        "data": {"image": f"/data/local-files/?d={image}", **data},
        "annotations": [
            {
                "id": ann_id or task_id * 10,
                "was_cancelled": False,
                "updated_at": updated,
                "created_at": "2026-01-01T00:00:00+00:00",
                "result": [item for region in regions for item in region],
            }
        ],
    }


def _write_images(folder: Path, images: dict[str, int]) -> None:
    for rel, seed in images.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(_png(seed))


def _sync(path: Path) -> dict:
    from tasks.annotation_sync import export_annotations, ingest_export

    return ingest_export(export_annotations(str(path)))


def _reasons(engine) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for ref, reason in conn.execute(
            sa.text("SELECT item_ref, reason FROM quarantine WHERE stage = 'annotation_sync'")
        ):
            out.setdefault(ref, []).append(reason)
    return out


# ------------------------------------------------------------------------------ item 1: hostile tasks
def test_hostile_strings_depth_and_db_errors_are_quarantined_and_the_export_ingested(isolated_pipeline, tmp_path):
    folder = tmp_path / "hostile"
    images = {f"images/p{i}.png": i for i in range(12)}
    _write_images(folder, images)
    ok = [_region("ok1", "fine line")]
    evil_ref = "x" * 4000
    long_control = "\U0001f600" * 3000  # 12 kB of UTF-8 in a reason: beyond the quarantine index row limit
    tasks = [
        _task(101, "images/p0.png", ok, document="nul\u0000name"),
        _task(102, "images/p1.png", ok, document="lone \udc80 surrogate"),
        _task(103, "images/p2.png", ok, document="d" * 5000),
        _task(104, "images/p3.png", [_region("r" * 5000, "long region id")]),
        _task(105, "images/p4.png", [_region("nul\u0000id", "region id with NUL"), _region("fine", "kept", 40)]),
        _task(106, "images/p5.png", [_region("t1", "text with \u0000 NUL"), _region("t2", "kept too", 40)]),
        _task(107, "images/p6.png", [_region("t1", "lone \udc80 surrogate")]),
        _task(108, "images/p7.png", ok, **{"meta\u0000key": "v"}),
        _task(109, "images/p8.png", ok, font="serif\udfff"),
        _task(
            110,
            "images/p9.png",
            ok + [[{"id": evil_ref, "type": "textarea", "from_name": long_control, "value": {"text": ["x"]}}]],
        ),
        _task(111, "images/p10.png", [_region("boom", "boom")]),  # refused by the database (below)
        _task(112, "images/p11.png", [_region("g1", "the good task"), _region("g2", "is ingested", 40)]),
        _task(114, "images/p0.png", ok, page="9" * 5000),  # int() of it raises ValueError (digit limit)
        _task(115, "images/p0.png", ok, page="\u00b2"),  # "²".isdigit(), but not a number
    ]
    bad_url = _task(116, "x.png", ok)
    bad_url["data"]["image"] = "http://[::1/x.png"  # urlsplit raises ValueError
    tasks.append(bad_url)
    huge = _task(117, "images/p0.png", [_region("inf", "overflowing box")])
    for item in huge["annotations"][0]["result"]:
        item["original_width"], item["value"]["x"] = 1e300, 1e300  # their product is inf: OverflowError
    tasks.append(huge)
    # \u0000 and lone surrogates are JSON escapes, as an attacker would write them. (A lone *high*
    # surrogate is read as "?" by the C JSON reader; a lone low one needs the Python reader, which
    # yields it, and the parser refuses it.)
    text = json.dumps(tasks)
    deep = '{"id": 113, "data": {"image": "images/p0.png", "nest": ' + '{"n": ' * 20000 + "1" + "}" * 20000 + "}}"
    folder.joinpath("export.json").write_text(text[:-1] + ", " + deep + "]")
    with isolated_pipeline.begin() as conn:  # a real database error for one task: a constraint it breaks
        conn.execute(sa.text("ALTER TABLE line_annotations ADD CONSTRAINT test_no_boom CHECK (text <> 'boom')"))
    try:
        stats = _sync(folder / "export.json")
    finally:
        with isolated_pipeline.begin() as conn:
            conn.execute(sa.text("ALTER TABLE line_annotations DROP CONSTRAINT test_no_boom"))

    assert stats["tasks"] == 17
    with isolated_pipeline.connect() as conn:
        ingested = conn.execute(
            sa.text("SELECT ingested_at FROM annotation_exports WHERE export_id = :e"), {"e": stats["export_id"]}
        ).scalar()
        lines = dict(conn.execute(sa.text("SELECT ls_region_id, text FROM line_annotations")).all())
        state = {r[0] for r in conn.execute(sa.text("SELECT ls_task_id FROM annotation_task_state"))}
        meta = conn.execute(
            sa.text("SELECT p.meta FROM pages p JOIN line_annotations la USING (page_id) WHERE la.ls_task_id = 109")
        ).scalar()
    assert ingested is not None  # the export is done: later exports are not held up by these tasks
    assert lines == {"g1": "the good task", "g2": "is ingested", "fine": "kept", "t2": "kept too", "ok1": "fine line"}
    assert 112 in state and 111 not in state  # the failed task is tried again with the next export
    assert "font" not in meta  # a value that is not valid Unicode is left out of the page's metadata
    reasons = _reasons(isolated_pipeline)
    flat = {ref: " | ".join(r) for ref, r in reasons.items()}
    assert "data.document: contains a NUL character" in flat["task:101"]
    assert "data.document: contains a lone surrogate" in flat["task:102"]
    assert "data.document: too long: 5000 characters" in flat["task:103"]
    assert any(ref.startswith("task:104/region:rrrr") and "region id): too long" in r for ref, r in flat.items())
    assert "contains a NUL character" in flat["task:105/region:nul\\x00id"]
    assert "value.text: contains a NUL character" in flat["task:106/region:t1"]
    assert "value.text: contains a lone surrogate" in flat["task:107/region:t1"]
    assert "data: key #2 contains a NUL character or a lone surrogate" in flat["task:108"]
    assert any(ref.startswith("task:110/region:xxx") and "unknown control" in r for ref, r in flat.items())
    assert "nested deeper than 32 levels" in flat["task:113"]
    assert "data.page: expected an integer" in flat["task:114"] and "data.page" in flat["task:115"]
    assert "task could not be read (ValueError: Invalid IPv6 URL)" in flat["task:116"]
    assert "region could not be read (OverflowError" in flat["task:117/region:inf"]
    assert "could not be written (CheckViolation" in flat["task:111"] and "test_no_boom" in flat["task:111"]
    with isolated_pipeline.connect() as conn:
        longest = conn.execute(
            sa.text("SELECT max(octet_length(item_ref) + octet_length(reason)) FROM quarantine")
        ).scalar()
    assert longest < 2400

    # The next export (the bad tasks fixed) ingests them: nothing was blocked for good.
    tasks[0]["data"]["document"] = "fixed name"
    tasks[10]["annotations"][0]["result"] = [i for i in _region("boom", "no longer boom")]
    folder.joinpath("export-2.json").write_text(json.dumps(tasks[:1] + tasks[10:11]))
    again = _sync(folder / "export-2.json")
    assert (again["tasks_changed"], again["rejected"]) == (2, 0)


# ------------------------------------------------------------------------------ item 3: scoped documents
def test_same_document_name_from_two_sources_never_shares_a_page(isolated_pipeline, tmp_path):
    a, b = tmp_path / "batch1", tmp_path / "batch2"
    _write_images(a, {"scan_001.png": 1})
    _write_images(b, {"scan_001.png": 2})
    # Same task id, region id and document name ("scan_001", from the file stem) in both sources.
    a.joinpath("export.json").write_text(json.dumps([_task(5, "scan_001.png", [_region("r1", "from batch one")])]))
    b.joinpath("export.json").write_text(json.dumps([_task(5, "scan_001.png", [_region("r1", "from batch two")])]))
    first, second = _sync(a / "export.json"), _sync(b / "export.json")
    assert first["pages"] == second["pages"] == 1 and second["rejected"] == 0

    from linerec.infra.storage import sha256_bytes

    with isolated_pipeline.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.scope, d.name, p.sha256, la.text, la.scope AS line_scope FROM documents d "
                "JOIN pages p USING (document_id) JOIN line_annotations la USING (page_id) "
                "WHERE d.name = 'scan_001' ORDER BY d.scope"
            )
        ).all()
    assert [(r.scope, r.name, r.sha256, r.text, r.line_scope) for r in rows] == [
        (f"file:{a}", "scan_001", sha256_bytes((a / "scan_001.png").read_bytes()), "from batch one", f"file:{a}"),
        (f"file:{b}", "scan_001", sha256_bytes((b / "scan_001.png").read_bytes()), "from batch two", f"file:{b}"),
    ]


def test_a_task_naming_a_scanned_document_never_touches_its_page(isolated_pipeline, tmp_path):
    from linerec.infra.storage import sha256_bytes
    from tasks.intake import ingest_files

    scan = tmp_path / "incoming" / "invoice.png"
    _write_images(scan.parent, {"invoice.png": 8})
    (page_id,) = ingest_files([str(scan)])["pages"]
    with isolated_pipeline.connect() as conn:
        name, sha = conn.execute(
            sa.text("SELECT d.name, p.sha256 FROM pages p JOIN documents d USING (document_id) WHERE p.page_id = :p"),
            {"p": page_id},
        ).one()
    folder = tmp_path / "hijack"
    _write_images(folder, {"other.png": 9})
    folder.joinpath("export.json").write_text(
        json.dumps([_task(61, "other.png", [_region("h", "hijack")], document=name, page=1)])
    )
    assert _sync(folder / "export.json")["pages"] == 1
    with isolated_pipeline.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.scope, p.page_id, p.sha256 FROM pages p JOIN documents d "
                "USING (document_id) WHERE d.name = :n ORDER BY d.scope"
            ),
            {"n": name},
        ).all()
    assert rows[1] == ("intake", page_id, sha)  # the scan's page is as intake stored it
    assert rows[0].scope == f"file:{folder}" and rows[0].sha256 == sha256_bytes((folder / "other.png").read_bytes())


def test_a_page_with_other_bytes_is_refused_unless_its_own_task_updates_it(isolated_pipeline, tmp_path):
    folder = tmp_path / "scans"
    _write_images(folder, {"batch1/scan_101.png": 3, "batch2/scan_101.png": 4, "batch1/scan_101-v2.png": 5})
    export = folder / "export.json"
    export.write_text(
        json.dumps(
            [
                _task(21, "batch1/scan_101.png", [_region("a", "first scan")]),
                _task(22, "batch2/scan_101.png", [_region("b", "other scan, same stem")]),
            ]
        )
    )
    stats = _sync(export)
    assert (stats["pages"], stats["rejected"]) == (1, 1)
    with isolated_pipeline.connect() as conn:
        page = conn.execute(
            sa.text(
                "SELECT p.page_id, p.sha256 FROM pages p JOIN documents d USING (document_id) WHERE d.name = 'scan_101'"
            )
        ).one()
        texts = [r[0] for r in conn.execute(sa.text("SELECT text FROM line_annotations WHERE ls_task_id IN (21, 22)"))]
    from linerec.infra.storage import sha256_bytes

    assert page.sha256 == sha256_bytes((folder / "batch1/scan_101.png").read_bytes()) and texts == ["first scan"]
    (reason,) = _reasons(isolated_pipeline)["task:22"]
    assert reason.startswith("task 22: its image '/data/local-files/?d=batch2/scan_101.png'")
    assert "document 'scan_101'" in reason and "another task wrote" in reason

    # An explicit update: task 21 (the task that wrote the page, same source) now shows a new image.
    export.write_text(
        json.dumps(
            [
                _task(
                    21,
                    "batch1/scan_101-v2.png",
                    [_region("a", "rescanned")],
                    updated="2026-03-02T10:00:00+00:00",
                    document="scan_101",
                )
            ]
        )
    )
    update = _sync(export)
    assert (update["pages"], update["rejected"]) == (1, 0)
    with isolated_pipeline.connect() as conn:
        after = conn.execute(
            sa.text(
                "SELECT p.page_id, p.sha256 FROM pages p JOIN documents d USING (document_id) WHERE d.name = 'scan_101'"
            )
        ).all()
    assert after == [(page.page_id, sha256_bytes((folder / "batch1/scan_101-v2.png").read_bytes()))]


# ------------------------------------------------------------------------------ item 5: export_file
def test_export_file_must_be_a_json_export_inside_the_import_folder(
    isolated_pipeline, tmp_path, monkeypatch, table_counts
):
    from tasks.annotation_sync import ExportFileRefused, export_annotations
    from tasks.context import store

    imports = tmp_path / "imports"
    imports.mkdir()
    monkeypatch.setenv("LINEREC_IMPORT_DIR", str(imports))
    secret = "s3cr3t-" + "0123456789abcdef"
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps([_task(1, "a.png", [])]))
    (imports / "link.json").symlink_to(outside)
    (imports / "secret.env").write_text(f"AWS_SECRET_ACCESS_KEY={secret}\n")
    (imports / "object.json").write_text(json.dumps({"password": secret}))
    (imports / "broken.json").write_text(f'[{{"id": 1, "data": {{"image": "{secret}"}}, oops]')
    before, keys = table_counts(), sorted(store().list_keys("exports/"))

    for path in (
        str(outside),
        "/etc/passwd",
        str(imports / "link.json"),
        "../outside.json",
        str(imports / ".." / "outside.json"),
    ):
        with pytest.raises(ExportFileRefused, match="is outside the import folder"):
            export_annotations(path)
    for name, pattern in (
        ("secret.env", "expected a JSON list of tasks at byte 0, found something else"),
        ("object.json", "expected a JSON list of tasks at byte 0, found something else"),
        ("broken.json", "invalid JSON at line 1"),
    ):
        with pytest.raises(ExportFileRefused, match=pattern) as info:
            export_annotations(name)  # relative: inside the import folder
        assert secret not in str(info.value) and "password" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        export_annotations("missing.json")
    assert table_counts() == before and sorted(store().list_keys("exports/")) == keys  # nothing stored

    (imports / "good.json").write_text(json.dumps([_task(1, "a.png", [])]))
    assert export_annotations("good.json") > 0


# ------------------------------------------------------------------------------ item 8: ordering
def test_ingests_of_one_scope_wait_for_each_other(isolated_pipeline, tmp_path):
    from tasks.annotation_sync import LOCK_NAMESPACE, export_annotations, ingest_export

    folder = tmp_path / "locked"
    _write_images(folder, {"p.png": 6})
    folder.joinpath("export.json").write_text(json.dumps([_task(31, "p.png", [_region("r", "locked")])]))
    export_id = export_annotations(str(folder / "export.json"))
    done: list = []
    with isolated_pipeline.connect() as holder:  # another ingest of the same scope holds the lock
        holder.execute(
            sa.text("SELECT pg_advisory_lock(:ns, hashtext(:s))"), {"ns": LOCK_NAMESPACE, "s": f"file:{folder}"}
        )
        thread = threading.Thread(target=lambda: done.append(ingest_export(export_id)))
        thread.start()
        time.sleep(3)
        assert done == [] and thread.is_alive()  # waiting, nothing written
        with isolated_pipeline.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM line_annotations WHERE ls_task_id = 31")).scalar() == 0
        holder.execute(
            sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:s))"), {"ns": LOCK_NAMESPACE, "s": f"file:{folder}"}
        )
        holder.commit()
    thread.join(60)
    assert done and done[0]["lines"] == 1


def test_an_older_export_never_reverts_newer_annotations(isolated_pipeline, tmp_path):
    from tasks.annotation_sync import export_annotations, ingest_export

    folder = tmp_path / "versions"
    _write_images(folder, {"p.png": 7})
    before = [{"id": 41, "data": {"image": "/data/local-files/?d=p.png"}, "annotations": []}]
    old = [
        _task(
            41,
            "p.png",
            [_region("r1", "old text"), _region("r2", "old region", 40)],
            updated="2026-04-01T09:00:00+00:00",
        )
    ]
    new = [
        _task(
            41,
            "p.png",
            [_region("r1", "new text"), _region("r3", "new region", 60)],
            updated="2026-04-02T09:00:00+00:00",
        )
    ]
    for name, tasks in (("v0.json", before), ("v1.json", old), ("v2.json", new)):
        folder.joinpath(name).write_text(json.dumps(tasks))
    v0 = export_annotations(str(folder / "v0.json"))  # taken before the task was annotated, ingested last
    _sync(folder / "v1.json")
    _sync(folder / "v2.json")

    def lines():
        with isolated_pipeline.connect() as conn:
            return dict(
                conn.execute(sa.text("SELECT ls_region_id, text FROM line_annotations WHERE ls_task_id = 41")).all()
            )

    assert lines() == {"r1": "new text", "r3": "new region"}
    # The older snapshot again, as a new export (another file, other bytes): skipped as older.
    folder.joinpath("v1-again.json").write_text(json.dumps(old, indent=1))
    replay = _sync(folder / "v1-again.json")
    assert (replay["tasks_older"], replay["tasks_changed"], replay["lines"], replay["lines_removed"]) == (1, 0, 0, 0)
    assert lines() == {"r1": "new text", "r3": "new region"}
    # The export taken before the annotation existed, ingested only now: it deletes nothing.
    late = ingest_export(v0)
    assert (late["tasks_older"], late["lines_removed"]) == (1, 0)
    assert lines() == {"r1": "new text", "r3": "new region"}
    with isolated_pipeline.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT ls_annotation_id, ls_updated_at, has_annotation FROM annotation_task_state "
                "WHERE ls_task_id = 41"
            )
        ).one()
        times = {
            r[0] for r in conn.execute(sa.text("SELECT ls_updated_at FROM line_annotations WHERE ls_task_id = 41"))
        }
    assert (kept.ls_annotation_id, kept.has_annotation) == (410, True)
    assert kept.ls_updated_at.isoformat() == "2026-04-02T09:00:00+00:00"
    assert {t.isoformat() for t in times} == {"2026-04-02T09:00:00+00:00"}
    # A newer export without the annotation (deleted in Label Studio) does remove the lines.
    folder.joinpath("v3.json").write_text(json.dumps(before, indent=2))
    assert _sync(folder / "v3.json")["lines_removed"] == 2 and lines() == {}


def test_scope_migration_applies_to_an_existing_database(services):
    """0007 on a database holding rows written before it: every row gets its export's scope."""
    import uuid

    from linerec.infra.db import get_engine, migrate, migration_files
    from linerec.infra.services import database_url

    name = f"linerec_mig_{uuid.uuid4().hex[:8]}"
    with services.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = get_engine(sa.engine.make_url(database_url()).set(database=name).render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                )
            )
            for version, path in migration_files():
                if version < "0007":
                    conn.exec_driver_sql(path.read_text())
                    conn.execute(
                        sa.text("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)"),
                        {"v": version, "n": path.name},
                    )
            conn.exec_driver_sql("""
                INSERT INTO annotation_exports (export_id, source, source_ref, sha256, s3_key, ingested_at) VALUES
                  (1, 'file', '/data/demo/corpus/export.json', 'a', 'exports/a.json', now()),
                  (2, 'labelstudio', 'http://ls:8080#project=3', 'b', 'exports/b.json', now());
                INSERT INTO documents (document_id, name, source) VALUES
                  (1, 'doc_a', 'annotated'), (2, 'scan-0123', 'scan'), (3, 'doc_empty', 'annotated');
                INSERT INTO pages (page_id, document_id, page_no, s3_key, sha256, width, height) VALUES
                  (1, 1, 1, 'pages/x', 'x', 10, 10), (2, 2, 1, 'pages/y', 'y', 10, 10), (3, 3, 1, 'pages/z', 'z', 10, 10);
                INSERT INTO line_annotations (page_id, export_id, ls_task_id, ls_annotation_id, ls_region_id, line_no,
                                              x, y, w, h, text) VALUES
                  (1, 1, 7, 70, 'r1', 1, 0, 0, 5, 5, 'file line'), (2, 2, 7, 71, 'r2', 1, 0, 0, 5, 5, 'ls line');
                INSERT INTO annotation_task_state (scope, ls_task_id, ls_annotation_id, fingerprint, page_id, export_id)
                VALUES ('file', 7, 70, 'f1', 1, 1), ('http://ls:8080', 7, 71, 'f2', 2, 2), ('file', 8, NULL, 'f3', 3, 1);
            """)
        assert migrate(engine) == [v for v, _ in migration_files() if v >= "0007"]
        with engine.connect() as conn:
            docs = dict(conn.execute(sa.text("SELECT name, scope FROM documents")).all())
            lines = dict(conn.execute(sa.text("SELECT text, scope FROM line_annotations")).all())
            state = sorted(
                tuple(r)
                for r in conn.execute(sa.text("SELECT scope, ls_task_id, has_annotation FROM annotation_task_state"))
            )
        assert docs == {"doc_a": "file:/data/demo/corpus", "scan-0123": "intake", "doc_empty": "file:/data/demo/corpus"}
        assert lines == {"file line": "file:/data/demo/corpus", "ls line": "labelstudio:http://ls:8080#project=3"}
        assert state == [
            ("file:/data/demo/corpus", 7, True),
            ("file:/data/demo/corpus", 8, False),
            ("labelstudio:http://ls:8080#project=3", 7, True),
        ]
        assert migrate(engine) == []
    finally:
        engine.dispose()
        with services.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
