"""Tests of the Label Studio export parser, the client's retries and the payloads sent to Label Studio."""

from __future__ import annotations

import json
import os
import re

import pytest

from linerec.labelstudio.export import (
    iter_export_file,
    iter_parsed_tasks,
    parse_tasks,
    resolve_image_ref,
    task_fingerprint,
)


def region(rid, x, y, w, h, text=None, rotation=0, size=(1000, 500)):
    """A rectangle and (unless text is None) a textarea item for one region."""
    common = {"id": rid, "to_name": "image", "original_width": size[0], "original_height": size[1], "image_rotation": 0}
    geom = {"x": x, "y": y, "width": w, "height": h, "rotation": rotation}
    items = [{**common, "type": "rectangle", "from_name": "bbox", "value": dict(geom)}]
    if text is not None:
        items.append(
            {
                **common,
                "type": "textarea",
                "from_name": "transcription",
                "value": {**geom, "text": text if isinstance(text, list) else [text]},
            }
        )
    return items


def annotation(ann_id, result, updated="2024-05-01T10:00:00Z", cancelled=False):
    return {
        "id": ann_id,
        "completed_by": 1,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": updated,
        "updated_at": updated,
        "lead_time": 3.5,
        "result": result,
    }


def task(task_id, annotations, image="/data/local-files/?d=images/doc_a_p2.png", **data):
    return {"id": task_id, "data": {"image": image, **data}, "annotations": annotations, "predictions": []}


def test_latest_annotation_wins_and_cancelled_is_ignored():
    t = task(
        1,
        [
            annotation(7, region("r", 10, 10, 50, 5, "newest but cancelled"), "2024-06-01T00:00:00Z", cancelled=True),
            annotation(5, region("r", 10, 10, 50, 5, "new"), "2024-05-02T08:00:00.5+00:00"),
            annotation(9, region("r", 10, 10, 50, 5, "old"), "2024-05-02T08:00:00Z"),
        ],
    )
    tie = task(2, [annotation(3, region("r", 1, 1, 5, 5, "low id")), annotation(4, region("r", 1, 1, 5, 5, "high id"))])
    result = parse_tasks([t, tie])
    assert [(line.text, line.annotation_id) for line in result.lines] == [("new", 5), ("high id", 4)]
    assert result.lines[0].updated_at == "2024-05-02T08:00:00.5+00:00"


def test_tasks_without_live_annotation_are_skipped_and_counted():
    tasks = [task(1, []), task(2, [annotation(1, region("r", 1, 1, 5, 5, "x"), cancelled=True)])]
    result = parse_tasks(tasks)
    assert (result.tasks_seen, result.tasks_unannotated, result.lines, result.rejected) == (2, 2, [], [])


def test_regions_are_joined_by_id_and_numbered_in_reading_order():
    a, b, c = region("aaa", 10, 40, 50, 5, "third"), region("bbb", 10, 10, 50, 5, "first"), region("ccc", 5, 20, 60, 5)
    c.append({**b[1], "id": "ccc", "value": {**b[1]["value"], "text": ["second\n"]}})
    result = parse_tasks([task(1, [annotation(1, [a[0], b[0], c[0], b[1], c[1], a[1]])], document="D", page=3)])
    assert [(line.line_no, line.text, line.region_id) for line in result.lines] == [
        (1, "first", "bbb"),
        (2, "second", "ccc"),
        (3, "third", "aaa"),
    ]
    first = result.lines[0]
    assert (first.x, first.y, first.w, first.h) == (100, 50, 500, 25)
    assert (first.document, first.page_no, first.image_width, first.image_height) == ("D", 3, 1000, 500)


def test_document_and_page_default_to_image_stem_and_one():
    result = parse_tasks([task(1, [annotation(1, region("r", 0, 0, 10, 10, ["Hello", "world \n"]))])])
    (line,) = result.lines
    assert (line.document, line.page_no, line.text) == ("doc_a_p2", 1, "Hello world")


def test_rotated_rectangle_is_kept_with_its_rotation():
    result = parse_tasks([task(1, [annotation(1, region("r", 50, 50, 80, 10, "tilted", rotation=12.5))])])
    (line,) = result.lines
    assert (line.x, line.y, line.w, line.h, line.rotation) == (500, 250, 800, 50, 12.5)


def test_empty_or_missing_transcription_is_rejected_with_raw_json():
    items = region("empty", 10, 10, 20, 5, [" ", "\n"]) + region("none", 10, 30, 20, 5) + region("ok", 1, 1, 5, 5, "x")
    result = parse_tasks([task(4, [annotation(8, items)])])
    assert [line.region_id for line in result.lines] == ["ok"]
    assert sorted((r.region_id, r.reason) for r in result.rejected) == [
        ("empty", "empty transcription"),
        ("none", "empty transcription"),
    ]
    rejected = next(r for r in result.rejected if r.region_id == "empty")
    assert (rejected.task_id, rejected.annotation_id) == (4, 8)
    assert rejected.raw["result"] == items[:2]
    json.dumps(rejected.raw)


def test_boxes_outside_the_image_are_rejected_and_overhangs_clipped():
    items = region("out", 120, 10, 10, 5, "gone") + region("flat", 10, 10, 0.01, 5, "flat")
    items += region("clip", 90, -2, 20, 6, "clipped")
    result = parse_tasks([task(1, [annotation(1, items)])])
    (line,) = result.lines
    assert (line.region_id, line.x, line.y, line.w, line.h) == ("clip", 900, 0, 100, 20)
    reasons = {r.region_id: r.reason for r in result.rejected}
    assert reasons["out"].startswith("box outside image") and reasons["flat"].startswith("zero-area")


def test_unknown_types_are_ignored_unless_the_region_is_incomplete():
    good = region("g", 1, 1, 5, 5, "kept") + [
        {"id": "g", "type": "labels", "from_name": "label", "value": {"labels": ["Text"]}}
    ]
    poly = [{"id": "p", "type": "polygon", "value": {"points": [[1, 1], [2, 2]]}}, region("p", 1, 9, 5, 5, "t")[1]]
    result = parse_tasks([task(1, [annotation(1, good + poly)])])
    assert [line.text for line in result.lines] == ["kept"]
    (rejected,) = result.rejected
    assert rejected.region_id == "p" and "no rectangle" in rejected.reason and "polygon" in rejected.reason


def test_unknown_from_name_is_rejected_and_never_read_as_text():
    items = region("r", 10, 10, 50, 5, "the line") + [
        {"id": "r", "type": "textarea", "from_name": "comment", "to_name": "image", "value": {"text": ["blurry"]}},
        {
            "id": "page-kind",
            "type": "choices",
            "from_name": "kind",
            "to_name": "image",
            "value": {"choices": ["letter"]},
        },
    ]
    result = parse_tasks([task(3, [annotation(6, items)])])
    assert [(line.region_id, line.text) for line in result.lines] == [("r", "the line")]
    reasons = sorted((r.region_id, r.reason) for r in result.rejected)
    assert [rid for rid, _ in reasons] == ["page-kind", "r"]
    assert all("from_name: unknown control" in reason for _, reason in reasons)
    assert "'comment'" in reasons[1][1] and "'kind'" in reasons[0][1]
    comment = next(r for r in result.rejected if r.region_id == "r")
    assert (comment.task_id, comment.annotation_id, comment.raw["item"]) == (3, 6, items[2])


def test_malformed_tasks_are_rejected_while_the_batch_goes_on():
    bad_coord = region("r", "abc", 1, 5, 5, "x")
    tasks = [
        task(1, [annotation(1, region("r", 1, 1, 5, 5, "one"))]),
        "not a task",
        {"id": 3, "data": {}, "annotations": []},
        task(4, [annotation(2, bad_coord)]),
        task(5, [annotation(3, [42])]),
        task(6, "nope"),
        task(7, [annotation(4, region("r", 1, 1, 5, 5, "seven"))], page="two"),
        task(8, [annotation(5, region("r", 1, 1, 5, 5, "eight"))]),
    ]
    result = parse_tasks(tasks)
    assert result.tasks_seen == 8
    assert [line.text for line in result.lines] == ["one", "eight"]
    reasons = [(r.task_id, r.region_id, r.reason) for r in result.rejected]
    assert reasons[0] == (None, None, "task: expected an object, got str")
    assert reasons[1][0] == 3 and reasons[1][2].startswith("data.image")
    assert reasons[2][:2] == (4, "r") and reasons[2][2].startswith("value.x")
    assert reasons[3][0] == 5 and "result[0]" in reasons[3][2]
    assert reasons[4][0] == 6 and reasons[4][2].startswith("annotations")
    assert reasons[5][0] == 7 and reasons[5][2].startswith("data.page")
    assert result.rejected[1].raw == tasks[2]


def test_streaming_reader_yields_tasks_from_file(tmp_path):
    path = tmp_path / "export.json"
    tasks = [task(1, [annotation(1, region("r", 1, 1, 5.5, 5, "a"))]), task(2, [])]
    path.write_text(json.dumps(tasks, indent=1))
    read = list(iter_export_file(path))
    assert read == tasks and isinstance(read[0]["annotations"][0]["result"][0]["value"]["width"], float)
    assert len(parse_tasks(iter_export_file(path)).lines) == 1


@pytest.mark.parametrize("content", ['[{"id": 1}, {"id": ', '[{"id": 1} {"id": 2}]', '{"detail": "x"}', ""])
def test_invalid_export_file_error_names_the_file(tmp_path, content):
    path = tmp_path / "broken_export.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="broken_export.json") as info:
        list(iter_export_file(path))
    assert re.search(r"line \d+ column \d+|byte \d+", str(info.value))


def test_resolve_image_ref_kinds(tmp_path, monkeypatch):
    # what the allow-lists let through (see tests/integration/test_image_fetch.py for what they refuse)
    monkeypatch.setenv("LINEREC_IMAGE_ROOTS", "/srv")
    monkeypatch.setenv("LINEREC_IMAGE_HOSTS", "host")
    monkeypatch.setenv("LINEREC_S3_BUCKET", "bucket")
    base = str(tmp_path)
    local = resolve_image_ref("/data/local-files/?d=images/a%20b.png", base)
    assert local == ("file", os.path.join(base, "images", "a b.png"))
    assert resolve_image_ref("images/x.png", base) == ("file", os.path.join(base, "images", "x.png"))
    assert resolve_image_ref("/srv/pages/x.png", base) == ("file", "/srv/pages/x.png")
    assert resolve_image_ref("https://host/img/x.png?sig=1", base) == ("http", "https://host/img/x.png?sig=1")
    assert resolve_image_ref("s3://bucket/pages/x.png", base) == ("s3", "s3://bucket/pages/x.png")
    assert resolve_image_ref("/data/upload/3/x.png", base, server_url="http://ls:8080/") == (
        "http",
        "http://ls:8080/data/upload/3/x.png",
    )


@pytest.mark.parametrize(
    "ref",
    [
        "/data/local-files/?d=../../etc/passwd",
        "../outside.png",
        "images/../../x.png",
        "/data/local-files/?d=/etc/passwd",
        "/srv/../etc/passwd",
        "ftp://h/x.png",
        "s3://bucket-only",
        "/data/local-files/?x=1",
        "",
    ],
)
def test_resolve_image_ref_rejects_traversal_and_junk(tmp_path, ref):
    with pytest.raises(ValueError):
        resolve_image_ref(ref, tmp_path)


def test_fingerprint_sees_what_is_parsed_and_nothing_else():
    base = task(1, [annotation(5, region("r", 10, 10, 50, 5, "text"))], document="D")
    (parsed,) = iter_parsed_tasks([base])
    noisy = json.loads(json.dumps(base))
    noisy.update({"updated_at": "2030-01-01T00:00:00Z", "total_predictions": 3, "predictions": [17]})
    noisy["annotations"][0]["lead_time"] = 99.0
    noisy["annotations"].append(
        annotation(9, region("r", 0, 0, 5, 5, "skipped"), "2031-01-01T00:00:00Z", cancelled=True)
    )
    edited = json.loads(json.dumps(base))
    edited["annotations"][0]["result"][1]["value"]["text"] = ["edited"]
    moved = json.loads(json.dumps(base))
    moved["data"]["page"] = 2
    fingerprints = [p.fingerprint for p in iter_parsed_tasks([noisy, edited, moved, task(1, [])])]
    assert fingerprints[0] == parsed.fingerprint == task_fingerprint(base["data"], base["annotations"][0])
    assert len({parsed.fingerprint, *fingerprints[1:]}) == 4
    (broken,) = iter_parsed_tasks([{"id": 4, "data": {}}])
    assert broken.fingerprint is None and broken.rejected[0].task_id == 4


_PARSE_AND_MEASURE = """
import json, resource, sys
from linerec.labelstudio.export import iter_export_file, iter_parsed_tasks
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tasks = lines = 0
for parsed in iter_parsed_tasks(iter_export_file(sys.argv[1])):
    tasks += 1
    lines += len(parsed.lines)
print(json.dumps({"tasks": tasks, "lines": lines,
                  "growth_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}))
"""


def test_parsing_streams_a_large_export_in_bounded_memory(tmp_path):
    """5,000 tasks (~25 MB of JSON): the parser holds one task at a time, not the export.

    Measured in a fresh process: its peak RSS may grow by a few MB while it parses; holding
    the export's 60,000 lines (``parse_tasks``) grows it by ~30 MB, ``json.load`` by ~150 MB.
    """
    import subprocess
    import sys

    path = tmp_path / "big.json"
    items = [r for i in range(12) for r in region(f"r{i}", 5, 2 + 7 * i, 80, 5, f"line number {i} " * 3)]
    with open(path, "w") as fh:
        fh.write("[")
        for i in range(5000):
            fh.write(("," if i else "") + json.dumps(task(i + 1, [annotation(i + 1, items)], document=f"d{i}")))
        fh.write("]")
    assert path.stat().st_size > 20e6
    out = subprocess.run(
        [sys.executable, "-c", _PARSE_AND_MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    measured = json.loads(out.stdout)
    assert (measured["tasks"], measured["lines"]) == (5000, 60000)
    assert measured["growth_kb"] < 8_000, f"parsing grew the peak RSS by {measured['growth_kb'] / 1e3:.0f} MB"


# --------------------------------------------------------------------------- client retries
def _api_error(status, body=None):
    from label_studio_sdk.core.api_error import ApiError

    return ApiError(status_code=status, headers={}, body=body)


def _flaky(*failures, result="ok"):
    """A call that raises ``failures`` one after the other, then returns ``result``."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    return call, calls


def test_transient_failures_are_retried_with_growing_backoff():
    import httpx

    from linerec.labelstudio.client import with_retries

    call, calls = _flaky(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), _api_error(503), _api_error(429))
    waits = []
    assert with_retries(call, "list projects", "http://ls", attempts=5, backoff=1.0, sleep=waits.append) == "ok"
    assert len(calls) == 5 and len(waits) == 4
    for n, wait in enumerate(waits):  # 1, 2, 4, 8 s, each times a jitter factor in [0.5, 1]
        assert 0.5 * 2**n <= wait <= 2**n


def test_retries_end_with_one_line_naming_the_call_and_server():
    import httpx

    from linerec.infra.endpoints import ServiceUnavailable
    from linerec.labelstudio.client import LabelStudioError, with_retries

    call, calls = _flaky(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(
        LabelStudioError,
        match=r"^Label Studio: create export of project 3 at http://ls:1 failed "
        r"after 3 attempts \(ConnectError: refused\); start it",
    ) as info:
        with_retries(call, "create export of project 3", "http://ls:1", attempts=3, sleep=lambda s: None)
    assert len(calls) == 3 and isinstance(info.value, ServiceUnavailable) and "\n" not in str(info.value)


@pytest.mark.parametrize("status, hint", [(401, "token rejected"), (404, "HTTP 404"), (400, "HTTP 400")])
def test_client_errors_are_not_retried(status, hint):
    from linerec.labelstudio.client import LabelStudioError, with_retries

    call, calls = _flaky(_api_error(status, {"detail": "no"}))
    with pytest.raises(LabelStudioError, match=hint):
        with_retries(call, "get project 9", "http://ls", sleep=lambda s: pytest.fail("slept"))
    assert len(calls) == 1


def test_other_exceptions_propagate_unchanged():
    from linerec.labelstudio.client import with_retries

    call, calls = _flaky(KeyError("bug"))
    with pytest.raises(KeyError):
        with_retries(call, "x", "http://ls", sleep=lambda s: pytest.fail("slept"))
    assert len(calls) == 1


# --------------------------------------------------------------------------- payloads sent to Label Studio
def test_predictions_convert_pixels_to_percent_and_parse_back_to_the_same_lines():
    from linerec.labelstudio.project import PredictedLine, page_score, prediction_result

    lines = [
        PredictedLine(1, 100, 50, 500, 25, "first line", 0.9),
        PredictedLine(2, 950, 480, 100, 40, "overhang", 0.5),  # clipped to the 1000x500 image
        PredictedLine(3, 1200, 10, 50, 10, "outside", 0.1),
    ]  # not sent
    result = prediction_result(lines, 1000, 500, page_id=7)
    assert [item["type"] for item in result] == ["rectangle", "textarea"] * 2
    rect = result[0]
    assert rect["value"] == {"x": 10.0, "y": 10.0, "width": 50.0, "height": 5.0, "rotation": 0}
    assert (rect["from_name"], rect["to_name"], result[1]["from_name"]) == ("bbox", "image", "transcription")
    assert rect["id"] == result[1]["id"] == "p7-l1" and rect["score"] == 0.9
    assert (rect["original_width"], rect["original_height"]) == (1000, 500)
    parsed = parse_tasks([task(1, [annotation(1, result)])]).lines  # the parser reads back what was sent
    assert [(ln.text, ln.x, ln.y, ln.w, ln.h) for ln in parsed] == [
        ("first line", 100, 50, 500, 25),
        ("overhang", 950, 480, 50, 20),
    ]
    assert page_score([0.9, 0.5, 0.1]) == pytest.approx(0.5) and page_score([]) == 0.0


def test_label_config_names_match_what_the_parser_reads():
    import xml.etree.ElementTree as ET

    from linerec.labelstudio.fields import BOX, IMAGE, TEXT
    from linerec.labelstudio.project import LABEL_CONFIG, check_label_config, page_task

    root = ET.fromstring(LABEL_CONFIG)
    tags = {el.tag: el.attrib for el in root}
    assert tags["Image"]["name"] == IMAGE and tags["Image"]["value"] == f"${IMAGE}"
    assert tags["Rectangle"]["name"] == BOX and tags["Rectangle"]["toName"] == IMAGE
    assert tags["TextArea"]["name"] == TEXT and tags["TextArea"]["perRegion"] == "true"
    parsed = {BOX: {"type": "Rectangle", "to_name": [IMAGE]}, TEXT: {"type": "TextArea", "to_name": [IMAGE]}}
    check_label_config(parsed, 1)
    from linerec.labelstudio.client import LabelStudioError

    with pytest.raises(LabelStudioError, match="no textarea tag named 'transcription'"):
        check_label_config({BOX: parsed[BOX], "text": parsed[TEXT]}, 1)
    assert page_task(5, "doc", 2, "s3://b/pages/x") == {
        "data": {"image": "s3://b/pages/x", "document": "doc", "page": 2, "page_id": 5}
    }


def test_nightly_step_skips_without_a_server(monkeypatch, caplog):
    from tasks.labelstudio import publish_to_labelstudio

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    with caplog.at_level("INFO", logger="tasks.labelstudio"):
        assert publish_to_labelstudio() == {"skipped": True}
    assert "LABEL_STUDIO_URL is unset" in caplog.text


def test_page_meta_keeps_short_scalars_only():
    from linerec.labelstudio.export import MAX_META_CHARS, page_meta

    data = {
        "image": "x.png",
        "document": "d",
        "page": 2,
        "font": "DejaVuSans",
        "dpi": 200,
        "skew": -1.5,
        "nested": {"a": 1},
        "list": [1],
        "huge": 10**20,
        "nan": float("nan"),
        "long": "y" * 5000,
        "flag": True,
    }
    meta = page_meta(data)
    assert meta == {"font": "DejaVuSans", "dpi": 200, "skew": -1.5, "long": "y" * MAX_META_CHARS, "flag": True}
