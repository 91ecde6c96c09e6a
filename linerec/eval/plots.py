"""Figures shared by training and reports (matplotlib without pyplot: no GUI backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np


def training_curve_png(
    train_loss: Sequence[float], title: str, val_cer: Sequence[tuple[int, float | None]] = ()
) -> bytes:
    """The training curve as PNG bytes.

    Parameters
    ----------
    train_loss : sequence of float
        Mean CTC loss per epoch (averaged over Horovod ranks).
    title : str
        Figure title.
    val_cer : sequence of (epoch, CER), optional
        Validation CER after some epochs (1-based); drawn on a second axis in percent.

    Returns
    -------
    bytes
        PNG image; the same input gives the same bytes.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.subplots()
    epochs = np.arange(1, len(train_loss) + 1)
    ax.plot(epochs, train_loss, marker="o", color="#1f77b4", label="train CTC loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train CTC loss")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if len(train_loss) > 0:
        ax.set_xticks(epochs if len(epochs) <= 20 else np.linspace(1, len(epochs), 10).round())
    points = [(int(e), 100.0 * float(c)) for e, c in val_cer if c is not None]
    if points:
        ax2 = ax.twinx()
        ax2.plot(*zip(*points), marker="s", color="#d62728", label="val CER (%)")
        ax2.set_ylabel("val CER (%)", color="#d62728")
        ax2.set_ylim(bottom=0)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
