"""What the benchmark scripts share: checking figures against targets, and cached generated corpora.

:class:`Targets` holds a script's targets by figure name (each a :class:`Target`: direction and
bound) and judges measured values against them, counting what was met and missed for a closing
tally (:meth:`Targets.summary`). :func:`cached_corpus` generates a synthetic corpus
(:func:`linerec.synth.pages.generate_corpus`) once into a folder named after the generator's
parameters and reuses it on later runs.

``scripts/`` is not a package: a script imports this module with its own folder on ``sys.path``.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import os
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Comparisons a target may use: ``value OP bound`` meets it.
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
MET, MISSED, NOT_MEASURED = "yes", "NO", "n/a"  # the verdicts as the reports print them


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def verdict(value: float, op: str, bound: float) -> str:
    """:data:`MET` if ``value op bound`` holds, else :data:`MISSED`; :data:`NOT_MEASURED` if either is ``nan``.

    Raises
    ------
    ValueError
        If ``op`` is not one of :data:`OPERATORS`.
    """
    if op not in OPERATORS:
        raise ValueError(f"unknown comparison {op!r}; expected one of {', '.join(OPERATORS)}")
    if _is_nan(value) or _is_nan(bound):
        return NOT_MEASURED
    return MET if OPERATORS[op](value, bound) else MISSED


@dataclass(frozen=True)
class Target:
    """A figure's target: the figure must be ``op`` ``bound`` (e.g. ``>= 0.98``).

    ``shown`` is how the target is printed; by default ``"<op> <bound>"`` with the bound as
    Python prints it.
    """

    op: str
    bound: float
    shown: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown comparison {self.op!r}; expected one of {', '.join(OPERATORS)}")

    @property
    def label(self) -> str:
        """The target as printed."""
        return self.shown if self.shown is not None else f"{self.op} {self.bound}"


@dataclass
class Targets:
    """A script's targets by figure name, and the tally of the checks made against them.

    Every :meth:`check` and :meth:`compare` is counted under its name: met, missed, or not
    measured (``nan``). A name checked again counts again (a figure judged per source, say).
    """

    targets: Mapping[str, Target]
    results: list[tuple[str, str]] = field(default_factory=list)  # (name, verdict) in order

    def check(self, key: str, value: float) -> tuple[str, str]:
        """The target of figure ``key`` as printed and the verdict on ``value``, counted.

        Raises
        ------
        KeyError
            If ``key`` has no target.
        """
        target = self.targets[key]
        result = verdict(value, target.op, target.bound)
        self.results.append((key, result))
        return target.label, result

    def compare(self, name: str, value: float, op: str, bound: float) -> str:
        """The verdict on ``value op bound`` for a target that depends on the run (another system's figure)."""
        result = verdict(value, op, bound)
        self.results.append((name, result))
        return result

    def names(self, result: str) -> list[str]:
        """Names of the checks with verdict ``result`` (:data:`MET`, :data:`MISSED`, :data:`NOT_MEASURED`)."""
        return [name for name, got in self.results if got == result]

    @property
    def all_met(self) -> bool:
        """Whether no check missed its target (not measured ones aside)."""
        return not self.names(MISSED)

    def summary(self) -> str:
        """One line: how many checks met their target and which missed or were not measured.

        A name that missed (or was not measured) more than once is listed once with its count.
        """
        met, missed, unknown = (self.names(r) for r in (MET, MISSED, NOT_MEASURED))
        line = f"targets met: {len(met)} of {len(met) + len(missed)}"
        if missed:
            line += f"; missed: {_counted(missed)}"
        if unknown:
            line += f"; not measured: {_counted(unknown)}"
        return line


def _counted(names: list[str]) -> str:
    """``names`` once each in first-seen order, ``" xN"`` after those seen N > 1 times."""
    counts = Counter(names)
    return ", ".join(name if counts[name] == 1 else f"{name} x{counts[name]}" for name in counts)


def corpus_key(params: Mapping[str, object]) -> str:
    """A short digest of generator parameters (JSON, keys sorted): equal parameters, equal keys."""
    text = json.dumps(params, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_corpus(
    root: Path,
    label: str,
    params: Mapping[str, object],
    *,
    workers: int = 2,
    say: Callable[[str], None] = print,
    what: str | None = None,
    generate: Callable[..., Path] | None = None,
) -> Path:
    """The folder of the corpus ``generate_corpus(folder, **params)``, generated under ``root`` once.

    The folder is ``root/<label>-<corpus_key(params)>``: other parameters, another folder. It is
    generated into a sibling of this process's own (``.tmp-<pid>``; ones left by processes that
    are gone are removed first), its parameters written to ``corpus.json`` in it, and renamed into
    place, so a folder that exists is complete and later runs reuse it; of two runs generating the
    same corpus at once, the first to finish wins and the other's copy is dropped. ``workers``
    (processes rendering pages) does not change the pages, so it is not part of the key.

    Parameters
    ----------
    root : pathlib.Path
        Cache folder (created if missing).
    label : str
        Start of the folder's name, saying what the corpus is (e.g. ``"scan-heldout"``).
    params : mapping
        Keyword arguments of the generator besides the output folder and ``workers``;
        JSON-serializable.
    workers : int, optional
        Processes generating pages.
    say : callable, optional
        Where the one line announcing a generation goes.
    what : str, optional
        Description of the corpus in that line (default: the label).
    generate : callable, optional
        The generator, ``generate(folder, workers=..., **params)``; by default
        :func:`linerec.synth.pages.generate_corpus`.

    Returns
    -------
    pathlib.Path
        The corpus folder, holding ``export.json``, ``images/`` and ``corpus.json``.
    """
    folder = root / f"{label}-{corpus_key(params)}"
    if (folder / "export.json").exists():
        return folder
    if generate is None:
        from linerec.synth.pages import generate_corpus as generate
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{folder.name}.tmp*"):
        owner = stale.name.rpartition("-")[2]
        if not (owner.isdigit() and _alive(int(owner))):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    say(f"generating {what or label} into {folder} (once)")
    generate(tmp, workers=workers, **params)
    (tmp / "corpus.json").write_text(json.dumps(dict(params), indent=2, sort_keys=True, default=list) + "\n")
    try:
        tmp.rename(folder)
    except OSError:  # another run put the same corpus in place first
        if not (folder / "export.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
