"""The synthesizers' progress callback and the ``linerec synth`` progress bar it drives."""

from __future__ import annotations

import json

from linerec import cli
from linerec.synth.lines import generate_line_sheets
from linerec.synth.pages import generate_corpus


def _documents(export) -> list[str]:
    """Document names of an export, in task order, each once."""
    return list(dict.fromkeys(task["data"]["document"] for task in json.loads(export.read_text())))


def test_clean_corpus_reports_every_document_once_in_order(tmp_path):
    calls: list[tuple[int, str]] = []
    export = generate_corpus(
        tmp_path,
        4,
        seed=8,
        pages_per_document=(1, 3),
        profile="clean",
        progress=lambda done, name: calls.append((done, name)),
    )
    documents = _documents(export)
    assert len(json.loads(export.read_text())) > 4  # some documents have several pages
    assert calls == [(1, "synth_8_0000"), (2, "synth_8_0001"), (3, "synth_8_0002"), (4, "synth_8_0003")]
    assert [name for _, name in calls] == documents


def test_scan_corpus_in_worker_processes_reports_in_order(tmp_path):
    calls: list[tuple[int, str]] = []
    export = generate_corpus(
        tmp_path,
        3,
        seed=5,
        pages_per_document=(1, 1),
        profile="scan",
        workers=2,
        progress=lambda done, name: calls.append((done, name)),
    )
    assert calls == [(1, "synth_5_0000"), (2, "synth_5_0001"), (3, "synth_5_0002")]
    assert [name for _, name in calls] == _documents(export)


def test_progress_does_not_change_the_output(tmp_path):
    quiet = generate_corpus(tmp_path / "quiet", 2, seed=3, profile="clean")
    counted = generate_corpus(tmp_path / "counted", 2, seed=3, profile="clean", progress=lambda done, name: None)
    assert quiet.read_bytes() == counted.read_bytes()


def test_line_sheets_report_every_sheet(tmp_path):
    calls: list[tuple[int, str]] = []
    export = generate_line_sheets(
        tmp_path, 3, seed=4, lines_per_sheet=3, workers=2, progress=lambda done, name: calls.append((done, name))
    )
    assert calls == [(1, "lines_4_00000"), (2, "lines_4_00001"), (3, "lines_4_00002")]
    assert [name for _, name in calls] == _documents(export)


class _Bar:
    """A stand-in for the tqdm bar that records what the command shows."""

    def __init__(self, total: int, **kwargs) -> None:
        self.total, self.n, self.updates, self.postfixes = total, 0, [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n: int) -> None:
        self.updates.append(n)
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        self.postfixes.append(text)


def test_synth_command_advances_its_bar_document_by_document(tmp_path, monkeypatch, capsys):
    bars: list[_Bar] = []

    def bar(iterable=None, **kwargs):
        bars.append(_Bar(**kwargs))
        return bars[-1]

    monkeypatch.setattr(cli, "progress", bar)
    assert cli.main(["synth", str(tmp_path), "--documents", "3", "--seed", "2", "--profile", "clean"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "export.json")
    (shown,) = bars
    assert (shown.total, shown.n, shown.updates) == (3, 3, [1, 1, 1])
    assert shown.postfixes == ["synth_2_0000", "synth_2_0001", "synth_2_0002"]
