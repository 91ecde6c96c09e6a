"""Synthetic multi-column pages with known lines, for layout and format tests."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from linerec.synth.text import load_sentences, wrap

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"


def two_column_page(
    size: int = 24,
    angle: float = 0.8,
    seed: int = 0,
    columns: int = 2,
    noise: float = 6.0,
    title: str = "Annual Report of the Harbour Commission",
    shape=(2000, 1500),
    face: str = FONT,
):
    """A page with a full-width title over ``columns`` columns of prose, turned ``angle`` degrees clockwise.

    Printed in the font file ``face``, grey noise of ``noise`` levels added.

    Returns
    -------
    (numpy.ndarray, list of dict)
        The ``(H, W)`` uint8 page, and its lines in reading order: ``text``, ``column``
        (-1 for the title) and ``box`` ``(x0, y0, x1, y1)`` of the ink before turning.
    """
    rng = np.random.default_rng(seed)
    sentences = load_sentences()
    font = ImageFont.truetype(face, size)
    h, w = shape
    margin, gutter = 100, 3 * size
    col_w = (w - 2 * margin - (columns - 1) * gutter) // columns
    image = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(image)
    lines = []

    def put(x, y, text, column, fnt=font):
        draw.text((x, y), text, font=fnt, fill=20)
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=fnt)
        lines.append({"text": text, "column": column, "box": (x0, y0, x1, y1)})

    put(margin, margin, title, -1, ImageFont.truetype(face, int(size * 1.5)))
    pitch = int(size * 1.6)
    for col in range(columns):
        y = margin + 3 * size
        x = margin + col * (col_w + gutter)
        pick = rng.permutation(len(sentences))
        for k in range(6):
            for text in wrap(" ".join(sentences[i] for i in pick[3 * k : 3 * k + 3]), font, col_w):
                if y + pitch > h - margin:
                    break
                put(x, y, text, col)
                y += pitch
            y += pitch // 2
    page = np.asarray(image, dtype=np.float64)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)  # clockwise on screen
    page = cv2.warpAffine(page, turn, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    for line in lines:  # the boxes' corners after turning: their axis-aligned hull
        x0, y0, x1, y1 = line["box"]
        pts = turn @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1, 1, 1, 1]], dtype=np.float64)
        line["page_box"] = (pts[0].min(), pts[1].min(), pts[0].max(), pts[1].max())
    page = 30 + (235 - 30) * page / 255 + rng.normal(0, noise, page.shape)
    return np.clip(np.rint(page), 0, 255).astype(np.uint8), lines
