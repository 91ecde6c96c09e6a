"""Quality signals of a recognition run and their drift (pure computations, no I/O).

A set of signals describes what a model read: line confidences, the character classes of the
recognized text, line heights and the page images' contrast and background brightness. Every
distribution is a histogram over fixed bins (:data:`BINS`), so that runs, and a run and the
model's training data, compare bin by bin. Drift is the population stability index (PSI) of two
histograms; :func:`judge` turns signals, references and thresholds into alerts.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Lines below this confidence go to review: the threshold of the ``low_confidence_lines`` view
#: and of ``recognition_run_stats.low_confidence_share`` (sql/migrations/0003_intake_and_views.sql).
REVIEW_THRESHOLD = 0.8
#: Bumped when a signal's definition or bins change: cached training references of another
#: version are computed again.
SIGNALS_VERSION = 1

#: Fixed histogram edges of each distribution signal (the last bin is closed on the right).
BINS: dict[str, tuple[float, ...]] = {
    "confidence": tuple(round(0.1 * i, 1) for i in range(11)),
    "line_height": (0, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 100000),  # pixels
    "page_contrast": tuple(round(0.1 * i, 1) for i in range(11)),  # (background - ink) / 255
    "page_background": tuple(round(0.1 * i, 1) for i in range(11)),  # background level / 255
}
CHAR_CLASSES = ("letters", "digits", "punctuation", "other")
#: Signals whose drift is a PSI, and whether each is counted in lines or in pages.
DISTRIBUTIONS = {
    "confidence": "lines",
    "line_height": "lines",
    "char_mix": "lines",
    "page_contrast": "pages",
    "page_background": "pages",
}


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts of ``values`` in the bins of ``edges`` (values outside are clipped to the end bins)."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return [0] * (len(edges) - 1)
    arr = np.clip(arr, edges[0], edges[-1])
    counts, _ = np.histogram(arr, bins=np.asarray(edges, dtype=np.float64))
    return [int(c) for c in counts]


def char_class(ch: str) -> str | None:
    """``letters``, ``digits``, ``punctuation`` or ``other`` by Unicode category; None for whitespace."""
    if ch.isspace():
        return None
    cat = unicodedata.category(ch)
    if cat[0] == "L":
        return "letters"
    if cat == "Nd":
        return "digits"
    if cat[0] == "P":
        return "punctuation"
    return "other"  # symbols (currency, math), other numbers, marks, controls


def char_counts(texts: Iterable[str]) -> list[int]:
    """Characters of ``texts`` per class of :data:`CHAR_CLASSES` (whitespace not counted)."""
    counts = dict.fromkeys(CHAR_CLASSES, 0)
    for text in texts:
        for ch in text:
            cls = char_class(ch)
            if cls:
                counts[cls] += 1
    return [counts[c] for c in CHAR_CLASSES]


def page_levels(image: np.ndarray) -> tuple[float, float]:
    """Background brightness and ink contrast of a grayscale page, both in [0, 1].

    The pixels are split in two by Otsu's threshold; the background level is the median of the
    bright side, the ink level the median of the dark side, and the contrast their difference.
    A page of one level (blank) has contrast 0. Large pages are read on a grid of every 2nd-4th
    pixel, which changes neither median noticeably.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` uint8 page.
    """
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a non-empty (H, W) grayscale page, got shape {image.shape}")
    step = max(1, min(4, int(math.sqrt(image.size / 1_000_000))))
    pixels = image[::step, ::step].ravel()
    hist = np.bincount(pixels, minlength=256).astype(np.float64)  # (256,)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(hist)  # pixels <= t
    sum_dark = np.cumsum(hist * levels)
    weight_bright = total - weight_dark
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_dark = sum_dark / weight_dark
        mean_bright = (sum_dark[-1] - sum_dark) / weight_bright
        between = weight_dark * weight_bright * (mean_dark - mean_bright) ** 2
    between[~np.isfinite(between)] = -1.0
    if between.max() <= 0:  # one level only
        level = float(np.median(pixels)) / 255.0
        return level, 0.0
    t = int(np.argmax(between))
    dark, bright = pixels[pixels <= t], pixels[pixels > t]
    background, ink = float(np.median(bright)), float(np.median(dark))
    return background / 255.0, max(background - ink, 0.0) / 255.0


@dataclass
class Signals:
    """What one run (or the training reference) read.

    Distribution signals are histograms over :data:`BINS` (``char_mix`` over
    :data:`CHAR_CLASSES`); scalars are None where nothing was measured.
    """

    pages: int = 0
    lines: int = 0
    sampled_pages: int = 0
    confidence_mean: float | None = None
    confidence_p10: float | None = None
    confidence_p50: float | None = None
    confidence_p90: float | None = None
    low_confidence_share: float | None = None
    line_height_p50: float | None = None
    page_contrast_mean: float | None = None
    page_background_mean: float | None = None
    hist: dict[str, list[int]] = field(default_factory=dict)

    def shares(self, name: str) -> list[float]:
        counts = self.hist.get(name) or []
        total = sum(counts)
        return [c / total for c in counts] if total else [0.0] * len(counts)

    @property
    def char_mix(self) -> dict[str, float]:
        return dict(zip(CHAR_CLASSES, self.shares("char_mix") or [0.0] * len(CHAR_CLASSES)))


def compute_signals(
    confidences: Sequence[float],
    heights: Sequence[float],
    texts: Sequence[str],
    page_levels_: Sequence[tuple[float, float]],
    pages: int,
    review_threshold: float = REVIEW_THRESHOLD,
) -> Signals:
    """Signals of one run from its lines and its sampled pages.

    Parameters
    ----------
    confidences, heights, texts
        One entry per recognized line: confidence in [0, 1], box height in pixels, text.
    page_levels_
        ``(background, contrast)`` of each sampled page (:func:`page_levels`).
    pages
        Pages the run read (the sampled ones are ``len(page_levels_)``).
    """
    conf = np.asarray(confidences, dtype=np.float64)  # (L,)
    s = Signals(pages=int(pages), lines=int(conf.size), sampled_pages=len(page_levels_))
    if conf.size:
        s.confidence_mean = float(conf.mean())
        s.confidence_p10, s.confidence_p50, s.confidence_p90 = (float(v) for v in np.percentile(conf, [10, 50, 90]))
        s.low_confidence_share = float((conf < review_threshold).mean())
    if len(heights):
        s.line_height_p50 = float(np.median(np.asarray(heights, dtype=np.float64)))
    if page_levels_:
        levels = np.asarray(page_levels_, dtype=np.float64)  # (P, 2): background, contrast
        s.page_background_mean, s.page_contrast_mean = float(levels[:, 0].mean()), float(levels[:, 1].mean())
    s.hist = {
        "confidence": histogram(conf, BINS["confidence"]),
        "line_height": histogram(heights, BINS["line_height"]),
        "char_mix": char_counts(texts),
        "page_contrast": histogram([c for _, c in page_levels_], BINS["page_contrast"]),
        "page_background": histogram([b for b, _ in page_levels_], BINS["page_background"]),
    }
    return s


def psi(actual: Sequence[int], expected: Sequence[int], pseudo_count: float = 0.5) -> float | None:
    """Population stability index of two histograms over the same bins.

    ``sum((a_i - e_i) * ln(a_i / e_i))`` over bin shares; each bin gets ``pseudo_count`` added
    first, so an empty bin on one side gives a large but finite term. None when either side is
    empty. Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.
    """
    if len(actual) != len(expected):
        raise ValueError(f"histograms have different bins: {len(actual)} vs {len(expected)}")
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.sum() <= 0 or e.sum() <= 0:
        return None
    a = (a + pseudo_count) / (a.sum() + pseudo_count * a.size)
    e = (e + pseudo_count) / (e.sum() + pseudo_count * e.size)
    return float(np.sum((a - e) * np.log(a / e)))


def pool(signals: Sequence[Signals]) -> Signals:
    """One reference from several runs: histograms summed, scalars averaged over the runs that have them."""
    out = Signals(
        pages=sum(s.pages for s in signals),
        lines=sum(s.lines for s in signals),
        sampled_pages=sum(s.sampled_pages for s in signals),
    )
    for name in (
        "confidence_mean",
        "low_confidence_share",
        "line_height_p50",
        "page_contrast_mean",
        "page_background_mean",
    ):
        values = [getattr(s, name) for s in signals if getattr(s, name) is not None]
        setattr(out, name, float(np.mean(values)) if values else None)
    for name in DISTRIBUTIONS:
        hists = [s.hist[name] for s in signals if s.hist.get(name) and sum(s.hist[name])]
        if hists:
            out.hist[name] = [int(v) for v in np.sum(np.asarray(hists), axis=0)]
    return out


@dataclass(frozen=True)
class Thresholds:
    """When a run's signals raise an alert (the nightly DAG's Params)."""

    psi: float = 0.25  #: PSI of any distribution, against training or history
    confidence_drop: float = 0.05  #: fall of mean line confidence
    low_confidence_rise: float = 0.10  #: rise of the share of lines below the review threshold
    min_lines: int = 200  #: fewer lines: line signals recorded, not judged
    min_pages: int = 20  #: fewer sampled pages: page signals recorded, not judged


@dataclass
class Alert:
    signal: str
    against: str  # "training" or "history"
    value: float
    threshold: float
    message: str

    def as_dict(self) -> dict:
        return {
            "signal": self.signal,
            "against": self.against,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "message": self.message,
        }


def drift(run: Signals, reference: Signals | None) -> dict[str, float | None]:
    """PSI of each distribution signal of ``run`` against ``reference`` (None where not comparable)."""
    if reference is None:
        return {}
    out = {}
    for name in DISTRIBUTIONS:
        a, e = run.hist.get(name), reference.hist.get(name)
        out[name] = psi(a, e) if a and e else None
    return out


def _enough(run: Signals, name: str, th: Thresholds) -> bool:
    if DISTRIBUTIONS.get(name, "lines") == "pages":
        return run.sampled_pages >= th.min_pages
    return run.lines >= th.min_lines


def judge(run: Signals, references: dict[str, Signals | None], th: Thresholds) -> tuple[list[Alert], list[str]]:
    """Alerts of ``run`` against each reference (``{"training": ..., "history": ...}``).

    Returns
    -------
    (list of Alert, list of str)
        The alerts, and notes on what was not judged (no reference, too little data).
    """
    alerts, notes = [], []
    if run.lines < th.min_lines:
        notes.append(f"line signals not judged: {run.lines} lines < min_lines {th.min_lines}")
    if run.sampled_pages < th.min_pages:
        notes.append(f"page signals not judged: {run.sampled_pages} sampled pages < min_pages {th.min_pages}")
    for against, ref in references.items():
        if ref is None or (ref.lines == 0 and ref.sampled_pages == 0):
            notes.append(f"no {against} reference to compare with")
            continue
        for name, value in drift(run, ref).items():
            if value is None or not _enough(run, name, th):
                continue
            if value > th.psi:
                alerts.append(
                    Alert(
                        name,
                        against,
                        value,
                        th.psi,
                        f"{name} distribution moved against {against}: PSI {value:.3f} > {th.psi}"
                        f" ({_describe_shift(name, run, ref)})",
                    )
                )
        if run.lines < th.min_lines:
            continue
        if run.confidence_mean is not None and ref.confidence_mean is not None:
            fall = ref.confidence_mean - run.confidence_mean
            if fall > th.confidence_drop:
                alerts.append(
                    Alert(
                        "confidence_mean",
                        against,
                        fall,
                        th.confidence_drop,
                        f"mean line confidence dropped against {against}: {ref.confidence_mean:.3f}"
                        f" -> {run.confidence_mean:.3f} (-{fall:.3f} > {th.confidence_drop})",
                    )
                )
        if run.low_confidence_share is not None and ref.low_confidence_share is not None:
            rise = run.low_confidence_share - ref.low_confidence_share
            if rise > th.low_confidence_rise:
                alerts.append(
                    Alert(
                        "low_confidence_share",
                        against,
                        rise,
                        th.low_confidence_rise,
                        f"share of lines below the review threshold rose against {against}: "
                        f"{ref.low_confidence_share:.1%} -> {run.low_confidence_share:.1%}"
                        f" (+{rise:.3f} > {th.low_confidence_rise})",
                    )
                )
    return alerts, notes


def _describe_shift(name: str, run: Signals, ref: Signals) -> str:
    """A short human reading of how a distribution moved (means, or the char class that moved most)."""
    if name == "char_mix":
        a, e = run.char_mix, ref.char_mix
        cls = max(CHAR_CLASSES, key=lambda c: abs(a[c] - e[c]))
        return f"{cls} {e[cls]:.1%} -> {a[cls]:.1%}"
    scalar = {
        "confidence": "confidence_mean",
        "line_height": "line_height_p50",
        "page_contrast": "page_contrast_mean",
        "page_background": "page_background_mean",
    }[name]
    before, now = getattr(ref, scalar), getattr(run, scalar)
    if before is None or now is None:
        return "no mean to compare"
    return f"{scalar} {before:.3f} -> {now:.3f}"
