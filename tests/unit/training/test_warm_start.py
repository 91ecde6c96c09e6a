"""A warm start reads lines at its start model's geometry, whatever default the dataset was built with."""

from __future__ import annotations

import json

from linerec.model.preprocessing import LineConfig
from linerec.training.train import _Data, start_model_geometry


def _model_dir(tmp_path, cfg: LineConfig):
    (tmp_path / "config.json").write_text(json.dumps({"line_config": cfg.to_dict()}))
    return tmp_path


def test_the_start_models_height_x_scale_and_band_win_and_the_datasets_charset_stays(tmp_path):
    data = _Data({}, LineConfig(x_scale=0.5, max_label_len=77), {"train": []}, 10)
    start = LineConfig(x_scale=1.0, band_pad=None)
    got = start_model_geometry(_model_dir(tmp_path, start), data)
    assert (got.cfg.height, got.cfg.x_scale, got.cfg.band_pad) == (start.height, 1.0, None)
    assert got.cfg.max_label_len == 77 and got.cfg.charset == data.cfg.charset and got.n_train == 10
    assert data.cfg.x_scale == 0.5  # the dataset's own config is left as it was


def test_without_a_start_model_or_with_the_same_geometry_the_data_is_unchanged(tmp_path):
    data = _Data({}, LineConfig(), {"train": []}, 3)
    assert start_model_geometry(None, data) is data
    assert start_model_geometry(_model_dir(tmp_path, LineConfig()), data) is data
