"""Tests for linerec.datasets.shards."""

import numpy as np
import pytest

from linerec.datasets.shards import decode_crop_png, encode_crop_png, load_dataset, write_shards
from linerec.model.charset import Charset
from linerec.model.preprocessing import LineConfig, normalize_line

CFG = LineConfig(max_width=128, charset=Charset("abcdefgh "), max_label_len=8)


def _examples(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = int(rng.integers(10, 50)), int(rng.integers(5, 300))
        image = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
        text = "".join(rng.choice(list("abcdefgh"), size=int(rng.integers(1, 8))))
        out.append((image, text, f"ex-{i:03d}"))
    return out


def _collect(ds):
    rows = []
    for batch in ds:
        for j in range(len(batch["id"])):
            rows.append({k: v[j].numpy() for k, v in batch.items()})
    return rows


def test_png_roundtrip():
    img = _examples(1)[0][0]
    np.testing.assert_array_equal(decode_crop_png(encode_crop_png(img)), img)


def test_write_shards_names_counts_and_determinism(tmp_path):
    examples = _examples(5)
    a = write_shards(iter(examples), tmp_path / "a", "train", shard_size=2)
    b = write_shards(examples, tmp_path / "b", "train", shard_size=2)
    assert [s["file"] for s in a] == [
        "train-00000-of-00003.tfrecord",
        "train-00001-of-00003.tfrecord",
        "train-00002-of-00003.tfrecord",
    ]
    assert [s["count"] for s in a] == [2, 2, 1]
    assert a == b
    for s in a:
        assert (tmp_path / "a" / s["file"]).read_bytes() == (tmp_path / "b" / s["file"]).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [s["file"] for s in a]
    assert write_shards([], tmp_path / "c", "val") == []


def test_load_dataset_matches_normalize_line(tmp_path):
    examples = _examples(7)
    shards = write_shards(examples, tmp_path, "val", shard_size=3)
    files = [str(tmp_path / s["file"]) for s in shards]
    rows = _collect(load_dataset(files, CFG, batch_size=4, shuffle=False, seed=0))
    assert [r["id"].decode() for r in rows] == [e[2] for e in examples]
    for row, (image, text, _) in zip(rows, examples):
        expected, width = normalize_line(image, CFG)  # padded to max_width; the batch to its widest line
        np.testing.assert_allclose(row["image"][:, :width], expected[:, :width], atol=1e-5)
        assert np.all(row["image"][:, width:] == 0.0)
        assert row["width"] == width
        assert row["label_length"] == len(text)
        assert row["label"][: len(text)].tolist() == CFG.charset.encode(text)
        assert np.all(row["label"][len(text) :] == -1)
        assert row["text"].decode() == text


def test_batch_shapes(tmp_path):
    shards = write_shards(_examples(5), tmp_path, "t")
    ds = load_dataset([str(tmp_path / shards[0]["file"])], CFG, 2, shuffle=True, seed=1, drop_remainder=True)
    batches = list(ds)
    assert len(batches) == 2
    b = batches[0]
    widest = int(max(b["width"]))  # padded to the widest line, a multiple of 4 columns
    assert b["image"].shape == (2, 32, -(-widest // 4) * 4, 1) and b["image"].dtype.name == "float32"
    assert b["label"].shape == (2, 8) and b["label"].dtype.name == "int32"
    assert b["width"].shape == (2,) and b["label_length"].shape == (2,)


@pytest.mark.parametrize("num_shards", [2, 3])
def test_rank_sharding_partitions_records(tmp_path, num_shards):
    shards = write_shards(_examples(10), tmp_path, "train", shard_size=4)
    files = [str(tmp_path / s["file"]) for s in shards]
    seen = []
    for rank in range(num_shards):
        ds = load_dataset(files, CFG, 3, shuffle=True, seed=7, num_shards=num_shards, shard_index=rank)
        seen.append({r["id"].decode() for r in _collect(ds)})
    assert sum(len(s) for s in seen) == 10
    assert set().union(*seen) == {f"ex-{i:03d}" for i in range(10)}


def test_invalid_labels_are_dropped(tmp_path):
    img = np.full((20, 40), 255, np.uint8)
    examples = [(img, "abc", "ok"), (img, "xyz", "oov"), (img, "a" * 9, "too-long"), (img, "", "empty")]
    shards = write_shards(examples, tmp_path, "t")
    rows = _collect(load_dataset([str(tmp_path / shards[0]["file"])], CFG, 8, False, 0))
    assert [r["id"].decode() for r in rows] == ["ok", "empty"]
    assert rows[1]["label_length"] == 0


def test_repeat_fills_batches_from_a_small_shard(tmp_path):
    shards = write_shards(_examples(3), tmp_path, "t")
    ds = load_dataset(
        [str(tmp_path / shards[0]["file"])], CFG, 5, shuffle=True, seed=0, drop_remainder=True, repeat=True
    )
    batch = next(iter(ds))
    assert batch["image"].shape[0] == 5


def test_jitter_crop_moves_edges_within_bounds():
    from linerec.datasets.shards import jitter_crop

    rng = np.random.default_rng(0)
    crop = np.full((30, 200), 240, dtype=np.uint8)
    crop[10:20, 20:180] = 20
    shapes = set()
    for _ in range(50):
        out = jitter_crop(crop, rng, max_px=3)
        assert 24 <= out.shape[0] <= 36 and 194 <= out.shape[1] <= 206
        assert out.dtype == np.uint8 and out.min() == 20  # the ink is never cut away
        shapes.add(out.shape)
    assert len(shapes) > 5


def test_context_records_give_the_box_for_evaluation_and_random_frames_for_training(tmp_path):
    from linerec.datasets.shards import LineExample, frame_crop, iter_records

    crop = np.full((40, 300), 230, dtype=np.uint8)
    crop[14:26, 20:280] = 10  # the line's ink; its box is (20, 12, 260, 16)
    box = (20, 12, 260, 16)
    shards = write_shards(
        [LineExample(crop, "abc", "ctx-1", box, True), (crop[12:28, 20:280], "ab", "old-2")], tmp_path, "t"
    )
    files = [str(tmp_path / s["file"]) for s in shards]
    back = list(iter_records(files))
    assert [(r.box, r.case_folded) for r in back] == [(box, True), (None, False)]
    np.testing.assert_array_equal(back[0].tight(), crop[12:28, 20:280])
    cfg = LineConfig(max_width=128, charset=Charset("abcABC "), max_label_len=8)
    rows = _collect(load_dataset(files, cfg, batch_size=2, shuffle=False, seed=0))
    expected, width = normalize_line(crop[12:28, 20:280], cfg)  # no augmentation: cut at the box
    np.testing.assert_allclose(rows[0]["image"][:, :width], expected[:, :width], atol=1e-5)
    assert [int(r["case_folded"]) for r in rows] == [1, 0]
    rng = np.random.default_rng(0)
    heights = set()
    for _ in range(200):
        out = frame_crop(crop, box, rng)
        assert (out == 10).sum() == 12 * 260  # the box's 2 px of paper above and below the ink cover any inward move
        heights.add(out.shape[0])
    assert min(heights) < 16 and max(heights) >= 16 + 8  # tighter and looser than the box


def test_case_folded_labels_are_upper_cased(tmp_path):
    from linerec.datasets.shards import LineExample

    cfg = LineConfig(max_width=128, charset=Charset("abAB "), max_label_len=8)
    crop = np.full((16, 60), 200, dtype=np.uint8)
    shards = write_shards([LineExample(crop, "ab", "f", None, True), LineExample(crop, "ab", "n")], tmp_path, "t")
    rows = _collect(load_dataset([str(tmp_path / shards[0]["file"])], cfg, 2, shuffle=False, seed=0))
    assert [list(r["label"][:2]) for r in rows] == [cfg.charset.encode("AB"), cfg.charset.encode("ab")]
