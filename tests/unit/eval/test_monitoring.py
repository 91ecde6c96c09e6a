"""Quality signals and drift (linerec.eval.monitoring): histograms, char classes, page levels, PSI, alerts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from linerec.eval import monitoring as mon
from linerec.eval.monitoring_report import distributions_png, render_markdown, trends_png
from linerec.infra.config import REPO_ROOT


def _page(background=235, ink=30, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    page = np.full((600, 400), background, np.float64)
    for row in range(8):
        page[40 + 60 * row : 56 + 60 * row, 30:370] = np.where(rng.random((16, 340)) < 0.4, ink, background)
    return np.clip(page + rng.normal(0, noise, page.shape), 0, 255).astype(np.uint8)


def test_review_threshold_is_the_views_threshold():
    sql = (REPO_ROOT / "sql/migrations/0003_intake_and_views.sql").read_text()
    assert set(re.findall(r"confidence < ([0-9.]+)", sql)) == {str(mon.REVIEW_THRESHOLD)}


def test_histogram_fixed_bins_clip_and_close_the_last_bin():
    edges = mon.BINS["confidence"]
    assert mon.histogram([0.0, 0.05, 0.1, 0.95, 1.0, 1.5, -1], edges) == [3, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert mon.histogram([], edges) == [0] * 10
    assert sum(mon.histogram([7, 300, 12.5], mon.BINS["line_height"])) == 3


def test_char_classes():
    assert mon.char_counts(["Total: 12,50 €", "Ünïcödé  ß", "  "]) == [13, 4, 2, 1]
    assert [mon.char_class(c) for c in "a7;$ "] == ["letters", "digits", "punctuation", "other", None]


def test_page_levels_see_darkening_and_blank_pages():
    bg, contrast = mon.page_levels(_page())
    assert bg == pytest.approx(235 / 255, abs=0.01) and contrast == pytest.approx(205 / 255, abs=0.01)
    dark_bg, dark_contrast = mon.page_levels(_page(background=110, ink=15, noise=20))
    assert dark_bg < 0.5 and dark_contrast < 0.45
    assert mon.page_levels(np.full((50, 50), 200, np.uint8)) == (pytest.approx(200 / 255), 0.0)
    with pytest.raises(ValueError, match="grayscale"):
        mon.page_levels(np.zeros((4, 4, 3), np.uint8))


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    assert mon.psi([10, 20, 30], [20, 40, 60]) == pytest.approx(0.0, abs=1e-3)  # pseudo-counts: near 0
    small, large = mon.psi([12, 20, 28], [10, 20, 30]), mon.psi([50, 10, 0], [0, 10, 50])
    assert 0 < small < 0.05 and large > 2
    assert mon.psi([0, 0], [1, 1]) is None
    with pytest.raises(ValueError, match="different bins"):
        mon.psi([1, 2], [1, 2, 3])


def _signals(conf_mean=0.93, background=235, noise=0.0, n_lines=300, n_pages=25, seed=0):
    rng = np.random.default_rng(seed)
    conf = np.clip(rng.normal(conf_mean, 0.05, n_lines), 0, 1)
    pages = [mon.page_levels(_page(background=background, noise=noise, seed=seed + i)) for i in range(n_pages)]
    return mon.compute_signals(
        conf, rng.integers(18, 30, n_lines), ["Invoice 2024-03, total 17.50"] * n_lines, pages, n_pages
    )


def test_compute_signals_and_pool():
    s = _signals()
    assert s.lines == 300 and s.pages == s.sampled_pages == 25
    assert s.confidence_p10 < s.confidence_p50 < s.confidence_p90
    assert sum(s.hist["confidence"]) == 300 and sum(s.hist["page_contrast"]) == 25
    assert sum(s.char_mix.values()) == pytest.approx(1.0) and s.char_mix["digits"] > 0.3
    pooled = mon.pool([s, _signals(conf_mean=0.83, seed=1)])
    assert pooled.lines == 600 and sum(pooled.hist["confidence"]) == 600
    assert pooled.confidence_mean == pytest.approx((s.confidence_mean + 0.83) / 2, abs=0.01)


def test_judge_same_distribution_no_alert_drift_named():
    th = mon.Thresholds()
    reference = _signals(seed=100)
    alerts, notes = mon.judge(_signals(seed=7), {"training": reference, "history": None}, th)
    assert alerts == [] and notes == ["no history reference to compare with"]

    dark = _signals(background=110, noise=20, conf_mean=0.70, seed=7)
    alerts, _ = mon.judge(dark, {"training": reference, "history": None}, th)
    named = {a.signal for a in alerts}
    assert {"page_contrast", "page_background", "confidence", "confidence_mean", "low_confidence_share"} <= named
    msg = next(a.message for a in alerts if a.signal == "confidence_mean")
    assert "dropped against training" in msg and "->" in msg


def test_judge_does_not_judge_small_samples():
    th = mon.Thresholds(min_lines=200, min_pages=20)
    dark = _signals(background=110, noise=20, conf_mean=0.5, n_lines=50, n_pages=5)
    alerts, notes = mon.judge(dark, {"training": _signals(seed=3)}, th)
    assert alerts == []
    assert any("50 lines < min_lines 200" in n for n in notes)
    assert any("5 sampled pages < min_pages 20" in n for n in notes)


def test_report_renders():
    run, ref = _signals(background=110, noise=20, seed=2), _signals()
    refs = {"training": ref, "history": None}
    alerts, notes = mon.judge(run, refs, mon.Thresholds())
    drift = {k: mon.drift(run, v) for k, v in refs.items()}
    md = render_markdown(
        {"run_id": 5, "logical_date": "2026-05-02", "model_version": "m", "history_runs": 0, "training": "25 pages"},
        run,
        refs,
        drift,
        alerts,
        notes,
        {"trend": "trends.png"},
    )
    assert "Status: ALERT" in md and "page_contrast distribution moved" in md and "![trend](trends.png)" in md
    trend = [{"label": "a", "psi_training": drift["training"], "alert": True, **run.__dict__}]
    assert trends_png(trend, "t")[:4] == b"\x89PNG"
    assert distributions_png(run, refs, "d")[:4] == b"\x89PNG"
