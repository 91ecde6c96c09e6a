"""Quality monitoring of a nightly run: its signals, compared with the last runs and the training data.

The monitor records what a recognition run read (line confidences, character classes, line
heights, page contrast and background; :mod:`linerec.eval.monitoring`) in ``run_signals``, compares it
with the last runs of the same model that raised no alert and with the same signals over the
model's training dataset (computed once per model, cached in ``training_signals``), writes a
report (Markdown + PNG) to S3, and raises :class:`QualityAlert` naming each signal that moved
past its threshold.

Where the numbers come from: line confidence, text and box height from the run's predictions
(all lines); page contrast and background from the page images in S3, a fixed sample of at most
``sample_pages`` pages of the run. The training reference is the model itself run, through the
nightly reading path (:func:`tasks.pages.read_and_recognize_pages`), over at most
``reference_pages`` pages of its dataset version, the held-out splits (test, val) first (pages
of the training data's distribution that the model did not learn from, so its confidence there is
what unchanged input should give), training pages only to fill the cap.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from linerec.eval.monitoring import (
    BINS,
    CHAR_CLASSES,
    REVIEW_THRESHOLD,
    SIGNALS_VERSION,
    Alert,
    Signals,
    Thresholds,
    compute_signals,
    drift,
    judge,
    page_levels,
    pool,
)
from linerec.infra.db import query, run_transaction
from tasks.context import engine, store
from tasks.pages import model_recognizer, read_and_recognize_pages

log = logging.getLogger(__name__)

#: Defaults of the nightly DAG's ``monitor_*`` Params.
HISTORY_RUNS = 7
SAMPLE_PAGES = 200
REFERENCE_PAGES = 100
TREND_RUNS = 30  # runs drawn in the report's trend figure


class QualityAlert(Exception):
    """A run's signals moved past a threshold; ``alerts`` says which and by how much."""

    def __init__(self, run_id: int, alerts: list[Alert], report_uri: str | None):
        self.run_id, self.alerts, self.report_uri = run_id, alerts, report_uri
        lines = "\n".join(f"  - {a.message}" for a in alerts)
        super().__init__(f"recognition run {run_id}: {len(alerts)} quality alert(s)\n{lines}\nreport: {report_uri}")


def _levels_of(st, page) -> tuple[float, float] | None:
    """``(background, contrast)`` of one stored page; None (logged) when it cannot be read.

    A missing or undecodable page is left out (recognition quarantined it already); an outage
    (:class:`~linerec.infra.endpoints.ServiceUnavailable`) raises.
    """
    from botocore.exceptions import ClientError

    from linerec.vision.images import BadImage, decode_page

    try:
        return page_levels(decode_page(st.get_bytes(page.s3_key), page.s3_key))
    except (BadImage, ClientError, ValueError) as exc:
        log.warning("page %s (%s) left out of the page signals: %s", page.page_id, page.s3_key, exc)
        return None


def sampled_page_levels(pages, threads: int = 2) -> list[tuple[float, float]]:
    """Page levels of ``pages`` (rows with ``page_id``, ``s3_key``), read ``threads`` at a time."""
    if not pages:
        return []
    st = store()
    _ = st.client
    with ThreadPoolExecutor(max_workers=min(threads, len(pages)), thread_name_prefix="monitor-page") as ex:
        return [lv for lv in ex.map(lambda p: _levels_of(st, p), pages) if lv is not None]


def run_signals(run_id: int, sample_pages: int = SAMPLE_PAGES) -> tuple[int, Signals]:
    """The model id and the signals of recognition run ``run_id`` (see the module notes)."""
    with engine().connect() as conn:
        run = conn.execute(query("recognition_run"), {"r": run_id}).first()
        if run is None:
            raise LookupError(f"no recognition run {run_id}")
        lines = conn.execute(query("monitor_run_lines"), {"run": run_id}).all()
        pages = conn.execute(query("monitor_run_pages"), {"run": run_id, "cap": sample_pages}).all()
    n_pages = pages[0].pages_read if pages else 0
    signals = compute_signals(
        [r.confidence for r in lines],
        [r.h for r in lines],
        [r.text for r in lines],
        sampled_page_levels(pages),
        n_pages,
    )
    return run.model_id, signals


def _from_row(row) -> Signals:
    m = row._mapping
    return Signals(
        **{
            k: m[k]
            for k in (
                "pages",
                "lines",
                "sampled_pages",
                "confidence_mean",
                "confidence_p10",
                "confidence_p50",
                "confidence_p90",
                "low_confidence_share",
                "line_height_p50",
                "page_contrast_mean",
                "page_background_mean",
            )
        },
        hist={k: list(v) for k, v in m["hist"].items()},
    )


def _params(s: Signals) -> dict:
    d = asdict(s)
    d.update({f"{c}_share": v if s.lines else None for c, v in s.char_mix.items()})
    d.update(
        hist=json.dumps(s.hist),
        bins=json.dumps(BINS | {"char_mix": CHAR_CLASSES}),
        review_threshold=REVIEW_THRESHOLD,
        signals_version=SIGNALS_VERSION,
    )
    return d


def training_reference(model_id: int, reference_pages: int = REFERENCE_PAGES) -> Signals | None:
    """The model's training-data signals, from ``training_signals`` or computed once and cached there.

    None when the model's dataset version has no page (e.g. a model registered without its
    training data); that is cached too.
    """
    eng = engine()
    with eng.connect() as conn:
        row = conn.execute(query("training_signals"), {"m": model_id}).first()
        if row is not None and row.signals_version == SIGNALS_VERSION:
            return _from_row(row) if row.pages else None
        model = conn.execute(query("registered_model"), {"model": model_id}).one()
        dataset_version_id, version = model.dataset_version_id, model.version
        pages = conn.execute(query("monitor_training_pages"), {"model": model_id, "cap": reference_pages}).all()
    splits = list(pages[0].splits) if pages else []
    if pages:
        log.info(
            "model %s: computing training reference signals over %d of %d pages (%s)",
            version,
            len(pages),
            pages[0].pages_available,
            "+".join(splits),
        )
        read, _ = read_and_recognize_pages(model_recognizer(model_id), pages)
        ok = [r for r in read if not r["error"]]
        for r in read:
            if r["error"]:
                log.warning("training page %s left out of the reference: %s", r["page"].page_id, r["error"])
        texts = [t for r in ok for t in r["texts"]]  # (text, confidence, ...) per line
        signals = compute_signals(
            [min(max(float(t[1]), 0.0), 1.0) for t in texts],
            [int(b[3]) for r in ok for b in r["boxes"]],
            [t[0] for t in texts],
            sampled_page_levels([r["page"] for r in ok]),
            len(ok),
        )
    else:
        log.warning("model %s: its dataset version has no pages in the database; no training reference", version)
        signals = Signals()
    params = _params(signals) | {"model": model_id, "dataset_version": dataset_version_id, "splits": splits}
    run_transaction(
        eng,
        lambda conn: conn.execute(query("upsert_training_signals"), params),
        f"caching training signals of model {version}",
    )
    return signals if signals.pages else None


def _history(run_id: int, n: int) -> tuple[list[int], Signals | None]:
    with engine().connect() as conn:
        rows = conn.execute(query("monitor_history"), {"run": run_id, "n": n, "version": SIGNALS_VERSION}).all()
    if not rows:
        return [], None
    return [r.recognition_run_id for r in rows], pool([_from_row(r) for r in rows])


def _trend(conn, model_id: int, run_id: int, current: Signals, current_drift: dict, alert: bool) -> list[dict]:
    rows = conn.execute(query("monitor_trend"), {"m": model_id, "r": run_id, "n": TREND_RUNS - 1}).all()
    out = [
        dict(
            asdict(_from_row(r)),
            label=f"{r.logical_date} #{r.recognition_run_id}",
            psi_training=(r.drift or {}).get("training"),
            alert=r.status == "alert",
        )
        for r in reversed(rows)
    ]
    return out + [dict(asdict(current), label="this run", psi_training=current_drift.get("training"), alert=alert)]


def _write_report(run_id: int, info: dict, signals: Signals, refs: dict, drifts: dict, alerts, notes) -> str:
    from linerec.eval.monitoring_report import distributions_png, render_markdown, trends_png

    st = store()
    prefix = f"reports/monitoring/{info['model_version']}/{info['logical_date']}-run{run_id}/"
    with engine().connect() as conn:
        trend = _trend(conn, info["model_id"], run_id, signals, drifts, bool(alerts))
    title = f"run {run_id} ({info['logical_date']}), model {info['model_version']}"
    st.put_bytes(prefix + "trends.png", trends_png(trend, f"Quality over runs: {title}"), "image/png")
    st.put_bytes(prefix + "distributions.png", distributions_png(signals, refs, f"Distributions: {title}"), "image/png")
    md = render_markdown(
        info,
        signals,
        refs,
        drifts,
        alerts,
        notes,
        {"signals over the last runs": "trends.png", "distributions": "distributions.png"},
    )
    st.put_bytes(prefix + "report.md", md.encode(), "text/markdown; charset=utf-8")
    return prefix + "report.md"


def monitor_run(
    run_id: int,
    history_runs: int = HISTORY_RUNS,
    psi: float = Thresholds.psi,
    confidence_drop: float = Thresholds.confidence_drop,
    low_confidence_rise: float = Thresholds.low_confidence_rise,
    min_lines: int = Thresholds.min_lines,
    min_pages: int = Thresholds.min_pages,
    sample_pages: int = SAMPLE_PAGES,
    reference_pages: int = REFERENCE_PAGES,
) -> dict:
    """Record run ``run_id``'s signals, compare them, write the report; raise on an alert.

    Parameters
    ----------
    run_id
        The recognition run.
    history_runs
        How many earlier runs of the model (that raised no alert) form the recent baseline.
    psi, confidence_drop, low_confidence_rise
        Alert thresholds (:class:`linerec.eval.monitoring.Thresholds`).
    min_lines, min_pages
        Below these many lines (sampled pages) the line (page) signals are recorded, not judged.
    sample_pages, reference_pages
        Caps on the pages read for the run's page signals and for the training reference.

    Returns
    -------
    dict
        ``run_id``, ``status`` (``ok`` or ``no_pages``), ``pages``, ``lines``, ``report_key``,
        ``report_uri``, ``notes`` and ``message``.

    Raises
    ------
    QualityAlert
        After the signals and the report are stored, when any threshold was crossed.
    """
    th = Thresholds(
        psi=psi,
        confidence_drop=confidence_drop,
        low_confidence_rise=low_confidence_rise,
        min_lines=min_lines,
        min_pages=min_pages,
    )
    model_id, signals = run_signals(run_id, sample_pages)
    eng = engine()
    with eng.connect() as conn:
        info = dict(conn.execute(query("recognition_run"), {"r": run_id}).one()._mapping)
    info["logical_date"] = str(info["logical_date"])
    base = _params(signals) | {"run": run_id, "model": model_id, "thresholds": json.dumps(asdict(th))}
    if signals.pages == 0:
        message = f"recognition run {run_id} ({info['logical_date']}) read no pages: no quality signal to judge"
        row = base | {
            "status": "no_pages",
            "drift": "{}",
            "history_runs": [],
            "alerts": "[]",
            "notes": json.dumps([message]),
            "report_key": None,
        }
        run_transaction(
            eng, lambda conn: conn.execute(query("upsert_run_signals"), row), f"recording signals of run {run_id}"
        )
        log.info(message)
        return {
            "run_id": run_id,
            "status": "no_pages",
            "pages": 0,
            "lines": 0,
            "report_key": None,
            "report_uri": None,
            "notes": [message],
            "message": message,
        }

    reference = training_reference(model_id, reference_pages)
    history_ids, history = _history(run_id, history_runs)
    refs = {"training": reference, "history": history}
    alerts, notes = judge(signals, refs, th)
    drifts = {name: drift(signals, ref) for name, ref in refs.items()}
    info.update(
        history_runs=len(history_ids),
        training=f"{reference.pages} pages, {reference.lines} lines" if reference else "none",
    )
    report_key = _write_report(run_id, info, signals, refs, drifts, alerts, notes)
    report_uri = store().uri(report_key)
    row = base | {
        "status": "alert" if alerts else "ok",
        "drift": json.dumps(drifts),
        "history_runs": history_ids,
        "alerts": json.dumps([a.as_dict() for a in alerts]),
        "notes": json.dumps(notes),
        "report_key": report_key,
    }
    run_transaction(
        eng, lambda conn: conn.execute(query("upsert_run_signals"), row), f"recording signals of run {run_id}"
    )
    log.info("quality report of run %s: %s", run_id, report_uri)
    for note in notes:
        log.info("run %s: %s", run_id, note)
    if alerts:
        raise QualityAlert(run_id, alerts, report_uri)
    mean = signals.confidence_mean if signals.confidence_mean is not None else float("nan")
    message = (
        f"recognition run {run_id}: no quality alert ({signals.pages} pages, {signals.lines} lines, "
        f"mean confidence {mean:.3f}); report {report_uri}"
    )
    log.info(message)
    return {
        "run_id": run_id,
        "status": "ok",
        "pages": signals.pages,
        "lines": signals.lines,
        "report_key": report_key,
        "report_uri": report_uri,
        "notes": notes,
        "message": message,
    }
