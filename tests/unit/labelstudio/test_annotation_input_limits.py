"""What the annotation parser refuses and how quarantine rows are made writable (issue 14, item 1),
without services: the integration suite (test_annotation_hardening) runs the same through Postgres."""

from __future__ import annotations

import json

import pytest

from linerec.labelstudio.export import iter_export_file, iter_parsed_tasks
from linerec.labelstudio.fields import MAX_DEPTH, too_deep
from tasks.context import MAX_REASON_BYTES, MAX_REF_BYTES, _safe_json, _safe_text


def _task(task_id: int, text="a line", rid: str = "r1", **data) -> dict:
    items = [
        {
            "id": rid,
            "type": "rectangle",
            "from_name": "bbox",
            "original_width": 100,
            "original_height": 50,
            "value": {"x": 10, "y": 10, "width": 50, "height": 20},
        },
        {
            "id": rid,
            "type": "textarea",
            "from_name": "transcription",
            "original_width": 100,
            "original_height": 50,
            "value": {"text": [text]},
        },
    ]
    return {
        "id": task_id,
        "data": {"image": "images/a.png", **data},
        "annotations": [{"id": 1, "updated_at": "2026-01-02T03:04:05Z", "result": items}],
    }


def _nested(depth: int) -> dict:
    root = node = {}
    for _ in range(depth):
        node["n"] = {}
        node = node["n"]
    return root


@pytest.mark.parametrize(
    "task, reason",
    [
        (_task(1, document="a\x00b"), "data.document: contains a NUL character"),
        (_task(2, document="a\udc80b"), "data.document: contains a lone surrogate"),
        (_task(3, document="d" * 256), "data.document: too long: 256 characters (limit 255)"),
        (_task(4, image="i" * 5000), "data.image: too long"),
        (_task(5, **{"k\x00": 1}), "data: key #2 contains a NUL character"),
        (_task(6, nest=_nested(100_000)), f"task: lists and objects nested deeper than {MAX_DEPTH} levels"),
        (_task(7, page="9" * 5000), "data.page: expected an integer"),
    ],
)
def test_a_hostile_task_is_rejected_as_a_whole(task, reason):
    (parsed,) = iter_parsed_tasks([task])
    assert parsed.fingerprint is None and parsed.lines == []
    assert [r.reason for r in parsed.rejected][0].startswith(reason)


@pytest.mark.parametrize(
    "text, rid, reason",
    [
        ("a\x00b", "r1", "value.text: contains a NUL character"),
        ("a\udc80", "r1", "value.text: contains a lone surrogate (not valid Unicode text)"),
        ("fine", "r" * 129, "result[].id (region id): too long: 129 characters (limit 128)"),
        ("fine", "r\x00", "result[].id (region id): contains a NUL character"),
    ],
)
def test_a_hostile_region_is_rejected_and_the_task_kept(text, rid, reason):
    (parsed,) = iter_parsed_tasks([_task(8, text=text, rid=rid)])
    assert parsed.fingerprint is not None and parsed.lines == []
    assert [r.reason for r in parsed.rejected] == [reason]


def test_annotation_time_is_parsed_and_meta_values_that_are_not_text_are_left_out():
    (parsed,) = iter_parsed_tasks([_task(9, font="serif\udfff", dpi=300, note="x\x00y")])
    assert parsed.annotation_time.isoformat() == "2026-01-02T03:04:05+00:00"
    assert parsed.meta == {"dpi": 300, "note": "xy"}


def test_depth_check_needs_no_recursion():
    assert not too_deep(_nested(MAX_DEPTH - 1)) and too_deep(_nested(MAX_DEPTH + 1))
    assert too_deep(_nested(200_000))


def test_export_file_errors_never_quote_the_file(tmp_path):
    secret = "hunter2-secret-value"
    for name, body in (
        ("env.json", f"PASSWORD={secret}\n"),
        ("obj.json", json.dumps({"k": secret})),
        ("bad.json", f'[{{"id": 1, "x": {secret}}}]'),
        ("bad2.json", f'["{secret}" "{secret}"]'),
    ):
        path = tmp_path / name
        path.write_text(body)
        with pytest.raises(ValueError) as info:
            list(iter_export_file(path))
        assert secret not in str(info.value) and name in str(info.value)


def test_lone_low_surrogate_escape_does_not_stop_the_export(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([_task(10, text="bad \udc80"), _task(11, text="good")]))
    parsed = list(iter_parsed_tasks(iter_export_file(path)))
    assert [len(p.lines) for p in parsed] == [0, 1]
    assert "lone surrogate" in parsed[0].rejected[0].reason


def test_quarantine_text_and_raw_json_are_always_storable():
    ref = _safe_text("task:1/region:" + "\U0001f600" * 2000, MAX_REF_BYTES)
    reason = _safe_text("bad \x00 \udc80 " + "é" * 5000, MAX_REASON_BYTES)
    assert len(ref.encode()) <= MAX_REF_BYTES and len(reason.encode()) <= MAX_REASON_BYTES
    assert reason.startswith("bad \\x00 \\udc80 ") and reason.endswith("…")
    raw = json.loads(_safe_json({"k\x00": ["v\x00", "\ud800", float("nan")], "deep": _nested(100_000)}))
    assert raw["k\\x00"] == ["v\\x00", "\\ud800", "nan"]
    assert "nested deeper than" in json.dumps(raw)
    assert "\\u0000" not in _safe_json({"a": "\x00"})  # jsonb refuses \u0000
    big = json.loads(_safe_json({"text": "x" * 1_000_000}))
    assert big["truncated"] is True and len(big["head"]) == 4096
