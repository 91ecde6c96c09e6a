"""Security against the real services (issue 6 §5): SQL injection, object keys, secrets in logs."""

from __future__ import annotations

import json
import logging
import re
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from linerec.infra.config import REPO_ROOT

pytestmark = pytest.mark.slow

INJECTIONS = [
    "Robert'); DROP TABLE line_annotations;--",
    "' OR '1'='1",
    "1; DELETE FROM documents WHERE true; --",
    '"; TRUNCATE quarantine CASCADE; --',
    "$$; DROP TABLE pages; $$",
    "\\'; DROP TABLE annotation_exports; --",
    "%(text)s :page_id ? $1 {text}",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from linerec.synth.pages import generate_corpus

    return generate_corpus(tmp_path_factory.mktemp("security") / "c", n_documents=2, seed=71, pages_per_document=(1, 1))


def test_no_sql_is_formatted_from_strings():
    """The library, steps and DAGs pass bound parameters only (no f-string or %-formatted SQL)."""
    pattern = re.compile(r"""(text|execute|exec_driver_sql)\(\s*(f["']|["'][^"']*["']\s*(%|\.format\())""")
    offenders = [
        f"{p.relative_to(REPO_ROOT)}:{n}"
        for folder in ("linerec", "tasks", "dags")
        for p in sorted((REPO_ROOT / folder).rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_sql_injection_strings_are_stored_verbatim_and_tables_intact(isolated_pipeline, corpus, tmp_path, table_counts):
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.intake import ingest_files

    engine = isolated_pipeline
    tasks = json.loads(corpus.read_text())
    placed = {}  # region id -> injection text
    texts = [
        r
        for r in tasks[0]["annotations"][0]["result"] + tasks[1]["annotations"][0]["result"]
        if r["type"] == "textarea"
    ]
    for item, evil in zip(texts, INJECTIONS):
        item["value"]["text"] = [evil]
        placed[item["id"]] = evil
    tasks[1]["data"]["document"] = INJECTIONS[0]  # also a document name
    export = corpus.parent / "injection.json"
    export.write_text(json.dumps(tasks))
    stats = ingest_export(export_annotations(str(export)))
    assert stats["rejected"] == 0

    good = sorted((corpus.parent / "images").glob("*.png"))
    scans = []
    for i, evil in enumerate(INJECTIONS[:3]):
        path = tmp_path / f"{evil.replace('/', '_')}.png"
        path.write_bytes(good[0].read_bytes() + bytes([i]))  # distinct files (trailing bytes are ignored)
        scans.append(path)
    empty = tmp_path / f"{INJECTIONS[3]}.png"
    empty.write_bytes(b"")
    intake = ingest_files([str(p) for p in scans] + [str(empty)])
    assert [f["status"] for f in intake["files"]] == ["registered"] * 3 + ["quarantined"]

    counts = table_counts()
    with engine.connect() as conn:
        tables = {r[0] for r in conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))}
        stored = dict(
            conn.execute(
                sa.text("SELECT ls_region_id, text FROM line_annotations WHERE ls_region_id = ANY(:r)"),
                {"r": list(placed)},
            ).all()
        )
        doc_names = {r[0] for r in conn.execute(sa.text("SELECT name FROM documents"))}
        reason = conn.execute(sa.text("SELECT reason FROM quarantine WHERE stage = 'intake'")).scalar_one()
    for table in ("line_annotations", "documents", "pages", "quarantine", "annotation_exports", "intake_files"):
        assert table in tables and counts[table] > 0, table
    assert stored == placed  # every string stored exactly as written
    assert INJECTIONS[0] in doc_names
    for path, f in zip(scans, intake["files"]):
        assert f"{path.stem}-{f['sha256'][:12]}" in doc_names
    assert reason == f"{empty.name}: empty file"
    assert counts["documents"] == len(tasks) + len(scans)


def test_object_keys_are_validated_at_the_storage_layer(services):
    from linerec.infra.storage import validate_key
    from tasks.context import store

    st = store()
    for key in (
        "../escape",
        "pages/../../escape",
        "/etc/passwd",
        "pages//x",
        "pages/./x",
        "pages/x\x00",
        "pages/%2e%2e/x",
        "",
        "a" * 1025,
        "pages/\u2024\u2024/x",
        "..",
        "pages/..",
        "pages\\..\\x",
    ):
        with pytest.raises(ValueError, match="unsafe object key"):
            validate_key(key)
        with pytest.raises(ValueError, match="unsafe object key"):
            st.put_bytes(key, b"nope")
        with pytest.raises(ValueError, match="unsafe object key"):
            st.get_bytes(key)
        with pytest.raises(ValueError, match="unsafe object key"):
            st.exists(key)
    assert not any("escape" in k or "passwd" in k for k in st.list_keys())
    assert validate_key("pages/" + "a" * 64) == "pages/" + "a" * 64


def test_listed_keys_are_read_as_listed_but_never_with_dot_segments(services):
    """Keys from a listing (the S3 inbox) may hold what other tools write, never '..' or controls."""
    from linerec.infra.storage import validate_listed_key
    from tasks.context import store

    for key in ("inbox/ok scan (1).png", "inbox/ünïcödé.png", "inbox/'; DROP TABLE pages; --.jpg"):
        assert validate_listed_key(key) == key
    for key in ("inbox/../exports/x.json", "../x", "inbox/./x", "/inbox/x", "inbox/x\x00", "inbox/\nx", "", ".."):
        with pytest.raises(ValueError, match="unsafe object key"):
            validate_listed_key(key)
        with pytest.raises(ValueError, match="unsafe object key"):
            store().get_bytes(key, listed=True)


def test_traversal_through_intake_and_export_is_refused(isolated_pipeline, corpus, tmp_path):
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.context import store
    from tasks.intake import ingest_bytes

    good = sorted((corpus.parent / "images").glob("*.png"))[0].read_bytes()
    # A file name is never part of an object key: pages are stored under their sha256.
    result = ingest_bytes(good + b"\x01\x02", "../../../../etc/cron.d/evil.png", "s3", "inbox/../../evil.png")
    assert result["status"] == "registered"

    tasks = json.loads(corpus.read_text())
    bucket = store().bucket
    refs = {
        "/data/local-files/?d=../../../../etc/passwd": r"escapes the base directory",
        "/data/local-files/?d=images/../../../etc/hostname": r"escapes the base directory",
        "../../etc/hostname": r"escapes the base directory",
        "/etc/../etc/passwd": r"contains '\.\.'",
        f"s3://{bucket}/pages/../exports/x.json": r"unsafe object key",
        f"s3://{bucket}/../other-bucket/x.png": r"unsafe object key",
        "s3://some-other-bucket/pages/x.png": r"outside bucket",
        "file:///data/local-files/%2e%2e/%2e%2e/etc/passwd": r"contains '\.\.'",
    }
    hostile = []
    for n, ref in enumerate(refs):
        t = json.loads(json.dumps(tasks[0]))
        t["id"] = 7000 + n
        t["data"] = {"image": ref, "document": f"traversal-{n}", "page": 1}
        hostile.append(t)
    export = corpus.parent / "traversal.json"
    export.write_text(json.dumps(hostile))
    stats = ingest_export(export_annotations(str(export)))
    assert stats["tasks"] == len(refs) and stats["pages"] == 0

    with isolated_pipeline.connect() as conn:
        reasons = dict(
            conn.execute(sa.text("SELECT item_ref, reason FROM quarantine WHERE item_ref LIKE 'task:70%'")).all()
        )
    for n, (ref, pattern) in enumerate(refs.items()):
        assert re.search(pattern, reasons[f"task:{7000 + n}"]), (ref, reasons[f"task:{7000 + n}"])
    keys = list(store().list_keys())
    assert keys and all(re.fullmatch(r"pages/[0-9a-f]{64}|exports/[0-9a-f]{64}\.json", k) for k in keys), keys


@pytest.fixture
def secret_env(isolated_pipeline, monkeypatch):
    """The step's credentials all come from the environment, each a known secret."""
    from linerec.infra.services import database_url
    from tasks import context
    from tasks.context import store

    ep = store().endpoint
    db_password = "pg-" + secrets.token_hex(12)
    role = "linerec_sec_" + secrets.token_hex(4)
    with isolated_pipeline.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # DDL takes no bound parameters; both names are generated hex here.
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{db_password}'")
    url = sa.engine.make_url(database_url()).set(username=role, password=db_password)
    env = {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "S3_ENDPOINT_URL": ep.endpoint_url,
        "AWS_ACCESS_KEY_ID": ep.access_key,
        "AWS_SECRET_ACCESS_KEY": ep.secret_key,  # the S3 server checks signatures: it must be the real one
        "LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LABEL_STUDIO_API_KEY": "ls-" + secrets.token_hex(16),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    context.engine.cache_clear()
    context.store.cache_clear()
    yield {
        "postgres password": db_password,
        "S3 secret key": ep.secret_key,
        "Label Studio API key": env["LABEL_STUDIO_API_KEY"],
    }
    context.engine.cache_clear()
    context.store.cache_clear()


def test_secrets_never_reach_the_logs(secret_env, corpus, tmp_path, caplog, capfd):
    from linerec.infra.config import get_settings
    from linerec.infra.endpoints import ServiceUnavailable
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.context import engine
    from tasks.intake import ingest_files

    caplog.set_level(logging.DEBUG)
    with engine().connect() as conn:  # the steps really run as the role with the password
        assert conn.execute(sa.text("SELECT current_user")).scalar().startswith("linerec_sec_")
    tasks = json.loads(corpus.read_text())
    for t in tasks:
        t["id"] += 800
    tasks[0]["annotations"][0]["result"][1]["value"]["text"] = [""]  # one rejection: a warning is logged
    export = corpus.parent / "secrets.json"
    export.write_text(json.dumps(tasks))
    stats = ingest_export(export_annotations(str(export)))
    assert stats["pages"] == len(tasks)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    ingest_files([str(p) for p in sorted((corpus.parent / "images").glob("*.png"))] + [str(empty)])
    # Failures print their message: these must not carry a secret either.
    errors = []
    with pytest.raises(ServiceUnavailable) as exc:
        export_annotations()  # Label Studio configured, no project recorded
    errors.append(str(exc.value))
    logging.getLogger("test").error("settings: %r", get_settings())  # what a debugging session would print

    out, err = capfd.readouterr()
    captured = "\n".join([caplog.text, out, err, *errors])
    assert "quarantined" in caplog.text and "ingested export" in caplog.text  # the logs were captured
    leaked = {
        what: [line for line in captured.splitlines() if value in line][:3]
        for what, value in secret_env.items()
        if value in captured
    }
    assert leaked == {}


def test_export_file_outside_the_import_folder_is_never_read(isolated_pipeline, tmp_path, monkeypatch, table_counts):
    """A DAG trigger's ``export_file`` cannot make a worker read (or upload) any other file (issue 14 §5)."""
    from tasks.annotation_sync import ExportFileRefused, export_annotations
    from tasks.context import store

    monkeypatch.setenv("LINEREC_IMPORT_DIR", str(tmp_path / "imports"))
    before, keys = table_counts(), sorted(store().list_keys())
    for path in ("/etc/passwd", "/proc/self/environ", "../../etc/hostname", str(tmp_path / "imports" / ".." / "x")):
        with pytest.raises(ExportFileRefused, match="outside the import folder"):
            export_annotations(path)
    assert table_counts() == before and sorted(store().list_keys()) == keys


@pytest.mark.parametrize(
    "ref",
    [
        "/etc/shadow",
        "file:///etc/passwd",
        "/dev/zero",
        "file:///proc/self/environ",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/",
        "http://127.0.0.1:5432/",
        "http://localhost:8080/api/v2/connections",
        "gopher://127.0.0.1:25/",
        "s3://someone-elses-bucket/pages/x.png",
    ],
)
def test_image_references_cannot_reach_system_files_or_internal_services(tmp_path, monkeypatch, ref):
    from linerec.labelstudio.export import resolve_image_ref

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    with pytest.raises(ValueError):
        resolve_image_ref(ref, tmp_path)
