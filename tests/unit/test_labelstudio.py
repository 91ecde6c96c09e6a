"""Tests of the Label Studio export parser."""

from __future__ import annotations

import json
import os
import re

import pytest

from linerec.data.labelstudio import iter_export_file, parse_tasks, resolve_image_ref


def region(rid, x, y, w, h, text=None, rotation=0, size=(1000, 500)):
    """A rectangle and (unless text is None) a textarea item for one region."""
    common = {"id": rid, "to_name": "image", "original_width": size[0], "original_height": size[1],
              "image_rotation": 0}
    geom = {"x": x, "y": y, "width": w, "height": h, "rotation": rotation}
    items = [{**common, "type": "rectangle", "from_name": "bbox", "value": dict(geom)}]
    if text is not None:
        items.append({**common, "type": "textarea", "from_name": "transcription",
                      "value": {**geom, "text": text if isinstance(text, list) else [text]}})
    return items


def annotation(ann_id, result, updated="2024-05-01T10:00:00Z", cancelled=False):
    return {"id": ann_id, "completed_by": 1, "was_cancelled": cancelled, "ground_truth": False,
            "created_at": updated, "updated_at": updated, "lead_time": 3.5, "result": result}


def task(task_id, annotations, image="/data/local-files/?d=images/doc_a_p2.png", **data):
    return {"id": task_id, "data": {"image": image, **data}, "annotations": annotations, "predictions": []}


def test_latest_annotation_wins_and_cancelled_is_ignored():
    t = task(1, [
        annotation(7, region("r", 10, 10, 50, 5, "newest but cancelled"), "2024-06-01T00:00:00Z", cancelled=True),
        annotation(5, region("r", 10, 10, 50, 5, "new"), "2024-05-02T08:00:00.5+00:00"),
        annotation(9, region("r", 10, 10, 50, 5, "old"), "2024-05-02T08:00:00Z"),
    ])
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
        (1, "first", "bbb"), (2, "second", "ccc"), (3, "third", "aaa")]
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
        ("empty", "empty transcription"), ("none", "empty transcription")]
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
        {"id": "g", "type": "labels", "from_name": "label", "value": {"labels": ["Text"]}},
        {"id": "doc-class", "type": "choices", "from_name": "kind", "value": {"choices": ["letter"]}}]
    poly = [{"id": "p", "type": "polygon", "value": {"points": [[1, 1], [2, 2]]}}, region("p", 1, 9, 5, 5, "t")[1]]
    result = parse_tasks([task(1, [annotation(1, good + poly)])])
    assert [line.text for line in result.lines] == ["kept"]
    (rejected,) = result.rejected
    assert rejected.region_id == "p" and "no rectangle" in rejected.reason and "polygon" in rejected.reason


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


def test_resolve_image_ref_kinds(tmp_path):
    base = str(tmp_path)
    local = resolve_image_ref("/data/local-files/?d=images/a%20b.png", base)
    assert local == ("file", os.path.join(base, "images", "a b.png"))
    assert resolve_image_ref("images/x.png", base) == ("file", os.path.join(base, "images", "x.png"))
    assert resolve_image_ref("/srv/pages/x.png", base) == ("file", "/srv/pages/x.png")
    assert resolve_image_ref("https://host/img/x.png?sig=1", base) == ("http", "https://host/img/x.png?sig=1")
    assert resolve_image_ref("s3://bucket/pages/x.png", base) == ("s3", "s3://bucket/pages/x.png")
    assert resolve_image_ref("/data/upload/3/x.png", base, server_url="http://ls:8080/") == (
        "http", "http://ls:8080/data/upload/3/x.png")


@pytest.mark.parametrize("ref", ["/data/local-files/?d=../../etc/passwd", "../outside.png", "images/../../x.png",
                                 "/data/local-files/?d=/etc/passwd", "/srv/../etc/passwd", "ftp://h/x.png",
                                 "s3://bucket-only", "/data/local-files/?x=1", ""])
def test_resolve_image_ref_rejects_traversal_and_junk(tmp_path, ref):
    with pytest.raises(ValueError):
        resolve_image_ref(ref, tmp_path)
