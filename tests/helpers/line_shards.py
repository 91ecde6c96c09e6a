"""A tiny line data set (printed word pairs in TFRecord shards with a manifest) for training runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from linerec.datasets.shards import write_shards
from linerec.model.preprocessing import LineConfig

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = "the quick brown fox jumps over a lazy dog 0123 line text".split()


def text_image(text: str) -> np.ndarray:
    """``text`` printed black on white in 20 px DejaVu Sans, 3 px margins: an ``(H, W)`` uint8 line image."""
    font = ImageFont.truetype(FONT, 20)
    left, _, right, _ = font.getbbox(text)
    img = Image.new("L", (right - left + 6, 30), 255)
    ImageDraw.Draw(img).text((3 - left, 3), text, font=font, fill=0)
    return np.asarray(img)


def tiny_dataset(root: Path) -> Path:
    """Write data set ``test-ds-1`` (24 train, 6 val, 4 test lines of two words, seed 0) to ``root``.

    Returns
    -------
    pathlib.Path
        ``root``, holding the shards and ``manifest.json``.
    """
    rng = np.random.default_rng(0)
    cfg = LineConfig(max_width=256, max_label_len=32)
    splits = {}
    for split, n in (("train", 24), ("val", 6), ("test", 4)):
        examples = []
        for i in range(n):
            text = " ".join(rng.choice(WORDS, size=2))
            examples.append((text_image(text), text, f"{split}-{i}"))
        splits[split] = write_shards(examples, root, split, shard_size=10)
    manifest = {"dataset_version": "test-ds-1", "config": cfg.to_dict(), "splits": splits}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root
