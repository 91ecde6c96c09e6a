"""Tests for linerec.model.preprocessing."""

import numpy as np
import pytest

from linerec.model.charset import Charset
from linerec.model.preprocessing import (
    LINE_HEIGHT,
    MAX_WIDTH,
    LineConfig,
    batch_lines,
    normalize_line,
)
from linerec.vision.crop import crop_line


def _line(h, w, ink_cols=()):
    img = np.full((h, w), 255, np.uint8)  # white paper
    for c in ink_cols:
        img[:, c] = 0  # black ink
    return img


def test_config_defaults_and_roundtrip():
    cfg = LineConfig()
    assert (cfg.height, cfg.max_width) == (LINE_HEIGHT, MAX_WIDTH) == (32, 2048)
    assert cfg.x_scale == 0.5
    custom = LineConfig(height=48, max_width=256, charset=Charset("ab"), max_label_len=7, x_scale=0.75)
    again = LineConfig.from_dict(custom.to_dict())
    assert again == custom
    # A configuration from before x_scale (older models and datasets) keeps the aspect ratio.
    # ... and reads crops as given (no text band).
    assert LineConfig.from_dict({}) == LineConfig(x_scale=1.0, band_pad=None)
    assert LineConfig.from_dict({"band_pad": None}).band_pad is None and cfg.band_pad == 0.2
    assert LineConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="x_scale"):
        LineConfig(x_scale=0.0)
    with pytest.raises(ValueError, match="band_pad"):
        LineConfig(band_pad=2.0)


def test_crop_line_clips_to_page():
    page = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert crop_line(page, (2, 3, 4, 2)).tolist() == [[32, 33, 34, 35], [42, 43, 44, 45]]
    assert crop_line(page, (-5, -5, 7, 6)).shape == (1, 2)
    assert crop_line(page, (8, 8, 10, 10)).shape == (2, 2)
    assert crop_line(page, (20, 20, 5, 5)).size == 0


def test_normalize_scales_width_and_inverts():
    img, width = normalize_line(_line(64, 100))
    assert img.shape == (32, 2048, 1) and img.dtype == np.float32
    assert width == 25  # 100 px at height 32 is 50 px, times x_scale 0.5
    assert normalize_line(_line(64, 100), LineConfig(x_scale=1.0))[1] == 50
    assert np.all(img == 0.0)  # white paper -> 0, padding -> 0


def test_ink_is_bright_and_padding_zero():
    line = _line(32, 40, ink_cols=range(10, 20))
    img, width = normalize_line(line, LineConfig(x_scale=1.0))
    assert width == 40  # already the right size: no resampling
    assert np.all(img[:, 10:20, 0] == 1.0)
    assert np.all(img[:, :10, 0] == 0.0) and np.all(img[:, 40:, 0] == 0.0)
    assert img.min() >= 0.0 and img.max() <= 1.0


def test_long_lines_are_squeezed_to_max_width():
    cfg = LineConfig(max_width=128)
    img, width = normalize_line(_line(16, 1000, ink_cols=[999]), cfg)
    assert width == 128 and img.shape == (32, 128, 1)
    assert img[:, -1, 0].max() > 0.0  # the last ink column survives the squeeze


def test_tiny_and_3d_inputs():
    img, width = normalize_line(_line(100, 1)[..., None])
    assert width == 1 and img.shape == (32, 2048, 1)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError):
        normalize_line(np.zeros((0, 5), np.uint8))
    with pytest.raises(TypeError):
        normalize_line(np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError):
        normalize_line(np.zeros((5, 5, 3), np.uint8))


def test_batch_lines_matches_normalize_line():
    lines = [_line(20, 30, [3]), _line(40, 300, [100, 101]), _line(32, 5)]
    images, widths = batch_lines(lines)
    assert images.shape == (3, 32, 2048, 1) and widths.dtype == np.int32
    for i, line in enumerate(lines):
        img, w = normalize_line(line)
        np.testing.assert_array_equal(images[i], img)
        assert widths[i] == w


def test_crop_line_rotated_box_gives_upright_line():
    import cv2

    page = np.full((400, 600), 255, np.uint8)
    page[200:210, 100:500] = 0  # a horizontal bar of "ink"
    # Turn the page 3 degrees clockwise about the box's top-left corner (cv2 angles are counter-clockwise).
    skewed = cv2.warpAffine(page, cv2.getRotationMatrix2D((100, 195), -3.0, 1.0), (600, 400), borderValue=255)
    crop = crop_line(skewed, (100, 195, 400, 20), rotation=3.0)
    assert crop.shape == (20, 400)
    assert (crop[6:14, 5:395] < 128).mean() > 0.99  # the bar fills its rows ...
    assert (crop[:3] < 128).mean() == 0 and (crop[17:] < 128).mean() == 0  # ... and nothing else
    # Axis-aligned cropping of the same box cuts through the slanted bar instead.
    assert (crop_line(skewed, (100, 195, 400, 20))[6:14] < 128).mean() < 0.5


def test_normalize_line_pad_to():
    line = np.full((16, 40), 255, np.uint8)
    image, width = normalize_line(line, LineConfig(), pad_to=96)
    assert image.shape == (32, 96, 1) and width == 40
    image, width = normalize_line(line, LineConfig(), pad_to=8)  # never narrower than the line
    assert image.shape == (32, 40, 1)


def test_light_print_on_a_dark_band_reads_as_dark_ink_on_paper():
    from linerec.model.preprocessing import light_background

    line = np.full((20, 120), 235, dtype=np.uint8)
    line[5:15, 10:110:6] = 20  # strokes: dark ink on light paper
    inverted = 255 - line
    np.testing.assert_array_equal(light_background(line), line)
    np.testing.assert_array_equal(light_background(inverted), line)
    a, _ = normalize_line(line, LineConfig(max_width=256))
    b, _ = normalize_line(inverted, LineConfig(max_width=256))
    np.testing.assert_array_equal(a, b)  # the model sees the same input either way
    grey = np.full((20, 120), 90, dtype=np.uint8)
    grey[5:15, 10:110:6] = 20  # dark grey paper, darker ink: not inverted
    np.testing.assert_array_equal(light_background(grey), grey)
    bold = np.full((20, 120), 235, dtype=np.uint8)
    bold[2:18, 4:116] = 20  # ink over most of a tight crop, paper at its border: not inverted
    np.testing.assert_array_equal(light_background(bold), bold)


def _text_rows(h, w, rows, seed=0):
    """Paper (235) with random ink strokes (20) in ``rows`` (a slice): a stand-in for a line of text."""
    img = np.full((h, w), 235, np.uint8)
    cols = np.random.default_rng(seed).choice(w, size=w // 3, replace=False)
    img[rows, np.sort(cols)[:, None].T] = 20  # (len(rows), w // 3) strokes
    return img


def test_text_band_keeps_the_line_and_drops_its_neighbours():
    from linerec.model.preprocessing import text_band

    line = _text_rows(60, 200, slice(20, 40))  # the line: rows 20..39
    line[0:6] = _text_rows(6, 200, slice(0, 6), seed=1)  # descenders of the line above
    line[54:60] = _text_rows(6, 200, slice(0, 6), seed=2)  # capitals of the line below
    line[16:40, 100:102] = 20  # an ascender: the line's glyphs reach row 16
    line[18, 50:53] = 20  # the dot of an i, within the line's rows: part of it
    out = text_band(line, pad=0.2)
    # rows 16..39 (24 rows) plus round(0.2 * 24) = 5 rows each side, neighbours painted over
    assert out.shape == (34, 200)
    np.testing.assert_array_equal(out[5:29], line[16:40])
    assert np.all(out[:5] == 235) and np.all(out[29:] == 235)


def test_text_band_ignores_rules_and_keeps_tight_crops():
    from linerec.model.preprocessing import text_band

    tight = _text_rows(20, 200, slice(0, 20))
    np.testing.assert_array_equal(text_band(tight), tight)  # nothing to cut
    underlined = np.vstack([_text_rows(24, 200, slice(2, 22)), np.full((6, 200), 235, np.uint8)])
    underlined[23, 5:195] = 20  # an underline under the text (95% of the width): a rule
    out = text_band(underlined, pad=0.2)
    assert out.shape == (26, 200)  # rows 2..21 plus 4 below (and the 2 above that there are)
    np.testing.assert_array_equal(out[:22], underlined[:22])
    assert np.all(out[22:] == 235)  # the rule lies in the margin: painted over
    blank = np.full((30, 80), 235, np.uint8)
    assert text_band(blank) is blank  # no contrast: left alone


def _glyph_row(h, w, top, bottom, step, offset=0, width=2):
    """Paper with vertical strokes ``width`` wide every ``step`` columns in rows ``top..bottom-1``."""
    img = np.full((h, w), 235, np.uint8)
    for x in range(offset, w - width, step):
        img[top:bottom, x : x + width] = 20
    return img


def test_text_band_separates_a_line_from_neighbours_touching_it():
    from linerec.model.preprocessing import text_band

    # the line: x-height strokes in rows 24..35, ascenders from row 20, descenders to row 39; the
    # lines above and below reach into its ascender and descender rows, so no blank row parts them
    line = np.minimum.reduce(
        [
            _glyph_row(60, 240, 24, 36, step=4),
            _glyph_row(60, 240, 20, 36, step=24),
            _glyph_row(60, 240, 24, 40, step=30, offset=12),
        ]
    )
    neighbours = np.minimum(
        _glyph_row(60, 240, 0, 22, step=36, offset=3), _glyph_row(60, 240, 38, 60, step=36, offset=9)
    )
    out = text_band(np.minimum(line, neighbours), pad=0.2)
    assert out.shape == (28, 240)  # rows 20..39 plus 4 each side
    np.testing.assert_array_equal(out[4:24], line[20:40])  # the line's strokes, the neighbours' gone
    assert np.all(out[:4] == 235) and np.all(out[24:] == 235)


def test_text_band_erases_a_form_box_around_the_line():
    from linerec.model.preprocessing import text_band

    text = _glyph_row(50, 200, 15, 35, step=7, offset=10)
    text[15:35, 185:] = 235
    crop = text.copy()
    crop[0:50, 1:3] = crop[0:50, 196:198] = 20  # a box's sides, cut by the crop above and below
    crop[46, :] = 20  # the field line under the box
    out = text_band(crop, pad=0.2)
    assert out.shape == (28, 200)  # rows 15..34 plus 4 each side
    np.testing.assert_array_equal(out[4:24], text[15:35])  # sides painted over, strokes kept


def test_underlined_letters_keep_their_strokes():
    from linerec.model.preprocessing import text_band

    crop = _glyph_row(40, 200, 10, 30, step=6)
    crop[30:32, 0:200] = 20  # an underline touching every stroke: one piece of ink with the line
    crop[0:4, 3:200:18] = 20  # specks of the line above: something to erase
    out = text_band(crop, pad=0.2)
    assert out.shape == (28, 200)  # rows 10..29 plus 4 each side (the underline is in the margin)
    np.testing.assert_array_equal(out[4:24], crop[10:30])


def test_a_dark_heading_in_a_loose_crop_is_cut_out_and_inverted():
    from linerec.model.preprocessing import light_background

    crop = np.full((40, 160), 240, np.uint8)  # paper around a dark band
    crop[8:32, 10:150] = 15  # the band
    crop[14:26, 20:140:8] = 230  # light letters on it
    out = light_background(crop)
    np.testing.assert_array_equal(out, 255 - crop[8:32, 10:150])
    bold = np.full((40, 160), 240, np.uint8)
    bold[8:32, 10:150:3] = 15  # heavy print on paper: dark columns, but no solid edges: left alone
    bold[8:32, 11:150:3] = 15
    np.testing.assert_array_equal(light_background(bold), bold)


def test_loose_and_tight_crops_give_the_same_model_input():
    page = np.full((120, 300), 235, np.uint8)
    page[40:60] = _text_rows(20, 300, slice(0, 20))
    page[10:32] = _text_rows(22, 300, slice(0, 22), seed=3)  # the line above
    page[70:92] = _text_rows(22, 300, slice(0, 22), seed=4)  # the line below
    cfg = LineConfig(max_width=512)
    tight, _ = normalize_line(page[36:64], cfg)  # the line and 4 rows of paper each side
    loose, _ = normalize_line(page[26:76], cfg)  # 50% of the line height more, neighbours cut in
    np.testing.assert_array_equal(tight, loose)
    legacy = LineConfig(max_width=512, band_pad=None)  # models from before the band: as given
    assert not np.array_equal(normalize_line(page[26:76], legacy)[0], loose)


def test_recognizer_sizes_passes_by_the_prepared_crop():
    from linerec.model.crnn import build_crnn
    from linerec.model.recognizer import Recognizer

    cfg = LineConfig(max_width=1024)
    rec = Recognizer(build_crnn(cfg), cfg, batch_size=4)
    loose = np.full((200, 300), 235, np.uint8)
    loose[95:105] = _text_rows(10, 300, slice(0, 10))  # 10 rows of text in a 200-row crop
    out = rec.recognize([loose, _text_rows(32, 40, slice(4, 28)), np.zeros((0, 5), np.uint8)])
    assert len(out) == 3 and out[2] == ("", 0.0)  # the band makes the first crop 20x wider: no overflow
