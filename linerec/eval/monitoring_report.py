"""The quality report of a monitored run: Markdown and PNG figures (matplotlib without pyplot)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from linerec.eval.monitoring import BINS, CHAR_CLASSES, DISTRIBUTIONS, Alert, Signals

_SCALARS = (
    "confidence_mean",
    "confidence_p10",
    "confidence_p50",
    "confidence_p90",
    "low_confidence_share",
    "line_height_p50",
    "page_contrast_mean",
    "page_background_mean",
)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def trends_png(trend: Sequence[dict], title: str) -> bytes:
    """Per run (oldest first): mean confidence with p10-p90 band, low-confidence share, page
    contrast and background, and each signal's PSI against the training data.

    ``trend`` rows hold ``label`` (x tick), the scalars of :class:`Signals`, ``psi_training``
    (signal -> PSI or None) and ``alert`` (bool).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7.5), dpi=90)
    axes = fig.subplots(3, 1, sharex=True)
    x = np.arange(len(trend))

    def series(key):
        return np.array([np.nan if r.get(key) is None else r[key] for r in trend], dtype=float)

    ax = axes[0]
    ax.fill_between(x, series("confidence_p10"), series("confidence_p90"), alpha=0.2, label="p10-p90")
    ax.plot(x, series("confidence_mean"), marker="o", label="mean confidence")
    ax.plot(x, series("low_confidence_share"), marker="s", label="share below review threshold")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    ax.plot(x, series("page_contrast_mean"), marker="o", label="page contrast (mean)")
    ax.plot(x, series("page_background_mean"), marker="s", label="page background (mean)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[2]
    for name in DISTRIBUTIONS:
        ax.plot(
            x,
            [np.nan if (r.get("psi_training") or {}).get(name) is None else r["psi_training"][name] for r in trend],
            marker=".",
            label=f"PSI {name}",
        )
    ax.set_ylabel("PSI vs training")
    ax.legend(fontsize=7, loc="upper left", ncol=3)
    for i, r in enumerate(trend):
        if r.get("alert"):
            for a in axes:
                a.axvline(i, color="#d62728", alpha=0.25, lw=6)
    axes[2].set_xticks(x)
    axes[2].set_xticklabels([r["label"] for r in trend], rotation=45, ha="right", fontsize=7)
    for a in axes:
        a.grid(True, alpha=0.3)
    return _png(fig)


def distributions_png(run: Signals, references: dict[str, Signals | None], title: str) -> bytes:
    """This run's distributions beside the references' (shares per bin)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6), dpi=90)
    axes = fig.subplots(2, 3).ravel()
    sides = [("this run", run)] + [(k, v) for k, v in references.items() if v is not None]
    for ax, name in zip(axes, DISTRIBUTIONS):
        labels = (
            list(CHAR_CLASSES) if name == "char_mix" else [f"{BINS[name][i]:g}" for i in range(len(BINS[name]) - 1)]
        )
        width = 0.8 / len(sides)
        for j, (label, s) in enumerate(sides):
            shares = s.shares(name) if s.hist.get(name) else [0.0] * len(labels)
            ax.bar(np.arange(len(labels)) + j * width, shares, width=width, label=label)
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
        ax.set_xticklabels(labels, rotation=45, fontsize=6)
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=7)
    axes[-1].axis("off")
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def render_markdown(
    info: dict,
    run: Signals,
    references: dict[str, Signals | None],
    drift: dict[str, dict],
    alerts: Sequence[Alert],
    notes: Sequence[str],
    figures: dict[str, str],
) -> str:
    """The report: verdict, alerts, signal table (run, references, PSI) and figures (relative links)."""
    out = [
        f"# Quality of recognition run {info['run_id']} ({info['logical_date']})",
        "",
        f"Model `{info['model_version']}`; {run.pages} pages read, {run.lines} lines, "
        f"{run.sampled_pages} pages sampled for page signals; compared with {info['history_runs']} "
        f"earlier runs and the training data ({info['training']}).",
        "",
    ]
    out += [f"**Status: {'ALERT' if alerts else 'ok'}**", ""]
    if alerts:
        out += ["## Alerts", ""] + [f"- {a.message}" for a in alerts] + [""]
    if notes:
        out += ["## Not judged", ""] + [f"- {n}" for n in notes] + [""]
    names = [n for n in references]
    out += ["## Signals", "", "| signal | this run | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for key in _SCALARS:
        out.append(
            f"| {key} | {_fmt(getattr(run, key))} | "
            + " | ".join(_fmt(getattr(references[n], key)) if references[n] else "–" for n in names)
            + " |"
        )
    for cls in CHAR_CLASSES:
        out.append(
            f"| {cls} share | {_fmt(run.char_mix[cls])} | "
            + " | ".join(_fmt(ref.char_mix[cls]) if ref else "–" for ref in (references[n] for n in names))
            + " |"
        )
    out += [
        "",
        "## Drift (PSI)",
        "",
        "| signal | " + " | ".join(f"vs {n}" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for name in DISTRIBUTIONS:
        out.append(f"| {name} | " + " | ".join(_fmt((drift.get(n) or {}).get(name)) for n in names) + " |")
    out.append("")
    for caption, file in figures.items():
        out += [f"![{caption}]({file})", ""]
    return "\n".join(out)
