"""The S3 inbox within limits (issue 14 item 6): objects over the byte cap are refused unread,
files over their page or time budget and the scan over its own budget stop cleanly, an object
that failed or killed a scan is quarantined instead of blocking the next one, a known file under a
new key is not downloaded again, and a file refused at a later page leaves no page object.

Real Postgres and S3; the kill is a real ``kill -9`` of a process scanning the inbox, stopped at
a chosen object by wrapping one function in that process (a fault no real service produces).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from linerec.infra.config import REPO_ROOT

pytestmark = pytest.mark.slow


def _page(seed: int, size=(300, 200)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.full(size[::-1], 235, np.uint8)
    for row in range(3):
        y = 30 + 50 * row
        pixels[y : y + 14, 20:280] = np.where(rng.random((14, 260)) < 0.5, 30, 235)
    return Image.fromarray(pixels)


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    _page(seed).save(buf, format="PNG")
    return buf.getvalue()


def _tiff(frames: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def _page_objects() -> set[str]:
    from tasks.context import store

    return {k for k in store().list_keys("pages/")}


def _inbox(engine, prefix: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {
            r.s3_key: (r.status, r.reason)
            for r in conn.execute(
                sa.text("SELECT s3_key, status, reason FROM inbox_objects WHERE starts_with(s3_key, :p)"), {"p": prefix}
            )
        }


@pytest.fixture
def put(isolated_pipeline):
    from tasks.context import store

    st = store()

    def put(key: str, data: bytes) -> None:
        st.client.put_object(Bucket=st.bucket, Key=key, Body=data)

    return put


def test_an_object_over_the_byte_cap_is_quarantined_unread(isolated_pipeline, put, monkeypatch, table_counts):
    from tasks.intake import scan_inbox

    small = _png(1)
    monkeypatch.setenv("LINEREC_INBOX_MAX_BYTES", str(len(small) + 10))
    put("inbox/cap/small.png", small)
    put("inbox/cap/huge.tif", _tiff([_page(2), _page(3), _page(4)]))

    assert scan_inbox("inbox/cap/") == {"seen": 2, "new_files": 2, "new_pages": 1, "rejected": 1}
    records = _inbox(isolated_pipeline, "inbox/cap/")
    assert records["inbox/cap/small.png"][0] == "registered"
    status, reason = records["inbox/cap/huge.tif"]
    assert status == "quarantined" and f"exceed the inbox limit of {len(small) + 10} bytes" in reason
    with isolated_pipeline.connect() as conn:  # never read, so never registered by its bytes
        assert (
            conn.execute(sa.text("SELECT count(*) FROM intake_files WHERE source_ref = 'inbox/cap/huge.tif'")).scalar()
            == 0
        )
    before = table_counts()
    assert scan_inbox("inbox/cap/") == {"seen": 2, "new_files": 0, "new_pages": 0, "rejected": 0}
    assert table_counts() == before


def test_files_over_their_page_or_time_budget_are_quarantined_without_orphan_pages(isolated_pipeline, put, monkeypatch):
    from tasks.intake import scan_inbox

    before = _page_objects()
    monkeypatch.setenv("LINEREC_INBOX_FILE_PAGES", "2")
    put("inbox/pages/three.tif", _tiff([_page(10), _page(11), _page(12)]))
    assert scan_inbox("inbox/pages/")["rejected"] == 1
    assert "three.tif: more than 2 pages" in _inbox(isolated_pipeline, "inbox/pages/")["inbox/pages/three.tif"][1]

    monkeypatch.setenv("LINEREC_INBOX_FILE_PAGES", "500")
    monkeypatch.setenv("LINEREC_INBOX_FILE_SECONDS", "0.000001")
    put("inbox/slow/two.tif", _tiff([_page(13), _page(14)]))
    assert scan_inbox("inbox/slow/")["rejected"] == 1
    assert (
        "two.tif: decoding took more than 1e-06 s at page 1"
        in _inbox(isolated_pipeline, "inbox/slow/")["inbox/slow/two.tif"][1]
    )
    assert _page_objects() == before  # the pages decoded before the budget ran out were never written


def test_a_file_refused_at_a_later_page_leaves_no_page_object(isolated_pipeline, put):
    from tasks.intake import scan_inbox

    before = _page_objects()
    put("inbox/later/third-bad.tif", _tiff([_page(20), _page(21), Image.new("L", (600, 2), 200)]))
    assert scan_inbox("inbox/later/") == {"seen": 1, "new_files": 1, "new_pages": 0, "rejected": 1}
    status, reason = _inbox(isolated_pipeline, "inbox/later/")["inbox/later/third-bad.tif"]
    assert status == "quarantined" and "frame 3: implausible page size 600x2" in reason
    assert _page_objects() == before
    with isolated_pipeline.connect() as conn:
        referenced = {r[0] for r in conn.execute(sa.text("SELECT s3_key FROM pages"))}
    assert _page_objects() <= referenced


def test_the_scan_budget_leaves_the_rest_for_the_next_scan(isolated_pipeline, put, monkeypatch):
    from tasks.intake import scan_inbox

    monkeypatch.setenv("LINEREC_INBOX_RUN_PAGES", "2")
    for n in range(3):
        put(f"inbox/run/{n}.png", _png(30 + n))
    assert scan_inbox("inbox/run/") == {"seen": 3, "new_files": 2, "new_pages": 2, "rejected": 0}
    assert scan_inbox("inbox/run/") == {"seen": 3, "new_files": 1, "new_pages": 1, "rejected": 0}
    assert scan_inbox("inbox/run/") == {"seen": 3, "new_files": 0, "new_pages": 0, "rejected": 0}


def test_a_known_file_under_a_new_key_is_not_downloaded(isolated_pipeline, put, monkeypatch):
    from linerec.infra.storage import ObjectStore
    from tasks.intake import scan_inbox

    data = _png(40)
    put("inbox/known/original.png", data)
    first = scan_inbox("inbox/known/")
    assert first["new_files"] == 1 and first["new_pages"] == 1

    read = []  # which objects the scan downloads
    real_get = ObjectStore.get_bytes

    def get_bytes(self, key, *args, **kwargs):
        read.append(key)
        return real_get(self, key, *args, **kwargs)

    monkeypatch.setattr(ObjectStore, "get_bytes", get_bytes)
    put("inbox/known/copy-of-original.png", data)
    put("inbox/known/another/copy.png", data)
    assert scan_inbox("inbox/known/") == {"seen": 3, "new_files": 0, "new_pages": 0, "rejected": 0}
    assert read == []
    records = _inbox(isolated_pipeline, "inbox/known/")
    assert records["inbox/known/copy-of-original.png"][0] == records["inbox/known/another/copy.png"][0] == "duplicate"
    with isolated_pipeline.connect() as conn:
        shas = set(
            conn.execute(
                sa.text("SELECT sha256 FROM inbox_objects WHERE starts_with(s3_key, 'inbox/known/')")
            ).scalars()
        )
    assert len(shas) == 1
    assert scan_inbox("inbox/known/")["new_files"] == 0 and read == []


def test_an_object_that_fails_its_read_is_quarantined_once(isolated_pipeline, put, monkeypatch):
    """A decoder that blows up on one file (not with BadImage: an error of the library itself)."""
    import linerec.vision.images
    from tasks.intake import scan_inbox

    real = linerec.vision.images.iter_pages

    def iter_pages(data, name="<bytes>", *args, **kwargs):
        if name == "crash.png":
            raise RecursionError("maximum recursion depth exceeded")
        return real(data, name, *args, **kwargs)

    monkeypatch.setattr(linerec.vision.images, "iter_pages", iter_pages)
    put("inbox/fail/crash.png", _png(50))
    put("inbox/fail/fine.png", _png(51))
    assert scan_inbox("inbox/fail/") == {"seen": 2, "new_files": 2, "new_pages": 1, "rejected": 1}
    assert "reading failed (RecursionError" in _inbox(isolated_pipeline, "inbox/fail/")["inbox/fail/crash.png"][1]
    monkeypatch.undo()
    assert scan_inbox("inbox/fail/") == {"seen": 2, "new_files": 0, "new_pages": 0, "rejected": 0}


CHILD = textwrap.dedent("""
    import sys, time
    import tasks.intake as intake

    real = intake.ingest_bytes
    def ingest_bytes(data, name, *args, **kwargs):
        if name == sys.argv[2]:
            print("READING", flush=True)
            time.sleep(600)  # as a decoder stuck on a 2,000-page file would, until the worker is killed
        return real(data, name, *args, **kwargs)
    intake.ingest_bytes = ingest_bytes
    intake.scan_inbox(sys.argv[1])
""")


def test_an_object_that_killed_a_scan_never_blocks_the_next_one(isolated_pipeline, put, table_counts):
    from tasks.intake import scan_inbox

    put("inbox/kill/a-first.png", _png(60))
    put("inbox/kill/b-killer.png", _png(61))
    put("inbox/kill/c-last.png", _png(62))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, "inbox/kill/", "b-killer.png"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == "READING", proc.stderr.read()[-2000:]
        assert _inbox(isolated_pipeline, "inbox/kill/")["inbox/kill/b-killer.png"][0] == "in_progress"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    second = scan_inbox("inbox/kill/")
    assert second == {"seen": 3, "new_files": 2, "new_pages": 1, "rejected": 1}
    records = _inbox(isolated_pipeline, "inbox/kill/")
    assert records["inbox/kill/a-first.png"][0] == records["inbox/kill/c-last.png"][0] == "registered"
    status, reason = records["inbox/kill/b-killer.png"]
    assert status == "quarantined" and "a scan stopped while reading it" in reason
    before = table_counts()
    assert scan_inbox("inbox/kill/") == {"seen": 3, "new_files": 0, "new_pages": 0, "rejected": 0}
    assert table_counts() == before
