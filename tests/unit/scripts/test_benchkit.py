"""The benchmark scripts' helper: target checks with a tally, and corpora generated once per parameters."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from linerec.infra.config import REPO_ROOT


def _load_benchkit():
    """``scripts/benchkit.py`` as the module ``benchkit`` (the scripts import it from their own folder)."""
    if "benchkit" not in sys.modules:
        spec = importlib.util.spec_from_file_location("benchkit", REPO_ROOT / "scripts" / "benchkit.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchkit"] = module  # before running it: its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["benchkit"]


benchkit = _load_benchkit()
MET, MISSED, NOT_MEASURED = benchkit.MET, benchkit.MISSED, benchkit.NOT_MEASURED
Target, Targets, cached_corpus, corpus_key, verdict = (
    benchkit.Target,
    benchkit.Targets,
    benchkit.cached_corpus,
    benchkit.corpus_key,
    benchkit.verdict,
)
NAN = float("nan")


@pytest.mark.parametrize(
    "value, op, bound, expected",
    [
        (0.98, ">=", 0.98, MET),
        (0.979, ">=", 0.98, MISSED),
        (0.010, "<=", 0.010, MET),
        (0.0101, "<=", 0.010, MISSED),
        (0.51, ">", 0.5, MET),
        (0.5, ">", 0.5, MISSED),
        (0.49, "<", 0.5, MET),
        (0.5, "<", 0.5, MISSED),
        (NAN, ">=", 1.0, NOT_MEASURED),
        (1.0, "<=", NAN, NOT_MEASURED),
    ],
)
def test_verdict(value, op, bound, expected):
    assert verdict(value, op, bound) == expected


def test_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="=="):
        verdict(1.0, "==", 1.0)
    with pytest.raises(ValueError, match="=>"):
        Target("=>", 1.0)


def test_target_label_is_the_bound_as_python_prints_it_unless_given():
    assert Target(">=", 300).label == ">= 300"
    assert Target(">=", 5.0).label == ">= 5.0"
    assert Target("<=", 0.005, "<= 0.5%").label == "<= 0.5%"


def test_checks_are_tallied_in_order():
    targets = Targets({"recall": Target(">=", 0.98), "cer": Target("<=", 0.01, "<= 1.0%"), "speed": Target(">=", 150)})
    assert targets.check("recall", 0.99) == (">= 0.98", MET)
    assert targets.check("cer", 0.012) == ("<= 1.0%", MISSED)
    assert targets.check("speed", NAN) == (">= 150", NOT_MEASURED)
    assert targets.compare("cer below Tesseract", 0.012, "<", 0.02) == MET
    assert targets.check("recall", 0.97) == (">= 0.98", MISSED)  # judged again, counted again
    assert targets.names(MET) == ["recall", "cer below Tesseract"]
    assert targets.names(MISSED) == ["cer", "recall"]
    assert not targets.all_met
    assert targets.summary() == "targets met: 2 of 4; missed: cer, recall; not measured: speed"
    targets.check("cer", 0.02)
    assert targets.summary() == "targets met: 2 of 5; missed: cer x2, recall; not measured: speed"
    with pytest.raises(KeyError):
        targets.check("precision", 1.0)


def test_summary_when_all_met():
    targets = Targets({"recall": Target(">=", 0.98)})
    targets.check("recall", 1.0)
    assert targets.all_met
    assert targets.summary() == "targets met: 1 of 1"


def test_corpus_key_follows_the_parameters_not_their_order():
    params = {"n_documents": 10, "seed": 910002, "pages_per_document": (1, 1), "profile": "scan", "fonts": "heldout"}
    assert corpus_key(params) == corpus_key(dict(reversed(list(params.items()))))
    assert len(corpus_key(params)) == 12
    for change in ({"seed": 910001}, {"n_documents": 11}, {"fonts": "train"}, {"layouts": {"table": 1.0}}):
        assert corpus_key({**params, **change}) != corpus_key(params)


class _Generator:
    """Records its calls and writes a minimal corpus."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, dict]] = []

    def __call__(self, folder: Path, **kwargs) -> Path:
        self.calls.append((folder, kwargs))
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "p1.jpg").write_bytes(b"page")
        (folder / "export.json").write_text("[]")
        return folder / "export.json"


def test_corpus_is_generated_once_per_parameters(tmp_path):
    generate, said = _Generator(), []
    params = {"n_documents": 3, "seed": 7, "profile": "scan"}
    first = cached_corpus(tmp_path / "cache", "scan-all", params, say=said.append, what="3 pages", generate=generate)
    assert first == tmp_path / "cache" / f"scan-all-{corpus_key(params)}"
    assert (first / "export.json").exists() and (first / "images" / "p1.jpg").exists()
    assert json.loads((first / "corpus.json").read_text()) == params
    assert generate.calls == [(first.with_name(f"{first.name}.tmp-{os.getpid()}"), {"workers": 2, **params})]
    assert said == [f"generating 3 pages into {first} (once)"]
    again = cached_corpus(tmp_path / "cache", "scan-all", params, workers=1, say=said.append, generate=generate)
    assert again == first and len(generate.calls) == 1 and len(said) == 1  # workers do not change the pages
    other = cached_corpus(tmp_path / "cache", "scan-all", {**params, "seed": 8}, say=said.append, generate=generate)
    assert other != first and len(generate.calls) == 2
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([first.name, other.name])


def test_an_interrupted_generation_is_redone(tmp_path):
    generate = _Generator()
    params = {"n_documents": 1, "seed": 1}
    tmp = tmp_path / f"c-{corpus_key(params)}.tmp-999999999"  # left by a process that is gone
    (tmp / "images").mkdir(parents=True)
    (tmp / "images" / "half.jpg").write_bytes(b"")
    folder = cached_corpus(tmp_path, "c", params, say=lambda msg: None, generate=generate)
    assert len(generate.calls) == 1 and not tmp.exists()
    assert [p.name for p in (folder / "images").iterdir()] == ["p1.jpg"]


def test_failed_generation_leaves_no_corpus(tmp_path):
    def broken(folder: Path, **kwargs) -> Path:
        folder.mkdir(parents=True)
        raise RuntimeError("no fonts")

    with pytest.raises(RuntimeError, match="no fonts"):
        cached_corpus(tmp_path, "c", {"seed": 1}, say=lambda msg: None, generate=broken)
    assert [p.name for p in tmp_path.iterdir()] == [f"c-{corpus_key({'seed': 1})}.tmp-{os.getpid()}"]


def test_a_running_generations_folder_is_left_alone_and_the_first_to_finish_wins(tmp_path):
    params = {"n_documents": 1, "seed": 2}
    name = f"c-{corpus_key(params)}"
    running = tmp_path / f"{name}.tmp-{os.getppid()}"  # another live process's work in progress
    running.mkdir()

    def racing(folder: Path, **kwargs) -> Path:
        _Generator()(folder, **kwargs)
        winner = tmp_path / name  # the other run finishes first
        (winner / "images").mkdir(parents=True)
        (winner / "export.json").write_text("[]")
        return folder

    folder = cached_corpus(tmp_path, "c", params, say=lambda msg: None, generate=racing)
    assert folder == tmp_path / name and (folder / "export.json").read_text() == "[]"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, running.name])


def test_default_generator_is_generate_corpus(tmp_path):
    params = {"n_documents": 1, "seed": 5, "pages_per_document": (1, 1), "profile": "clean"}
    folder = cached_corpus(tmp_path, "clean", params, workers=1, say=lambda msg: None)
    tasks = json.loads((folder / "export.json").read_text())
    assert [t["data"]["document"] for t in tasks] == ["synth_5_0000"]
    assert benchkit.cached_corpus(tmp_path, "clean", params, say=pytest.fail) == folder
