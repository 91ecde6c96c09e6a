"""Line crops with context, as the training-set builder cuts them (tasks.dataset.cut_with_context)."""

from types import SimpleNamespace

import cv2
import numpy as np

from tasks.dataset import cut_with_context


def _page():
    page = np.full((200, 400), 250, dtype=np.uint8)
    page[100:120, 50:350] = 0  # the line: box (50, 100, 300, 20)
    return page


def test_unrotated_context_and_box():
    crop, box = cut_with_context(_page(), SimpleNamespace(x=50, y=100, w=300, h=20, rotation=0), 0.35)
    assert crop.shape == (20 + 2 * 7, 300 + 2 * 7) and box == (7, 7, 300, 20)
    x, y, w, h = box
    assert (crop[y : y + h, x : x + w] == 0).all() and (crop[:y] == 250).all()


def test_context_is_clipped_at_the_page_edge():
    crop, box = cut_with_context(_page(), SimpleNamespace(x=0, y=190, w=100, h=20, rotation=0), 0.35)
    assert box == (0, 7, 100, 10)  # 7 px above, none left or below: the page ends
    assert crop.shape == (17, 107)


def test_rotated_box_gets_context_in_its_own_frame():
    page = np.full((400, 600), 250, dtype=np.uint8)
    page[190:210, 100:500] = 0
    turned = cv2.warpAffine(page, cv2.getRotationMatrix2D((100, 190), -5.0, 1.0), (600, 400), borderValue=250)
    r = SimpleNamespace(x=100, y=190, w=400, h=20, rotation=5.0)
    crop, box = cut_with_context(turned, r, 0.35)
    x, y, w, h = box
    assert (x, y, w, h) == (7, 7, 400, 20)
    assert (crop[y + 3 : y + h - 3, x + 5 : x + w - 5] < 128).mean() > 0.98  # the bar is upright inside the box
    assert (crop[: y - 1] > 200).mean() > 0.98 and (crop[y + h + 1 :] > 200).mean() > 0.98  # paper around it
