"""The documents' train/val/test split of the training-set builder (tasks.dataset.split_documents)."""

from __future__ import annotations

from tasks.dataset import split_documents


def test_split_is_deterministic_complete_and_disjoint():
    names = [f"doc-{i}" for i in range(40)]
    a = split_documents(names, seed=3)
    assert a == split_documents(list(reversed(names)), seed=3)
    assert set(a) == set(names)
    counts = {s: sum(1 for v in a.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 32, "val": 4, "test": 4}
    assert a != split_documents(names, seed=4)


def test_small_corpus_still_gets_val_and_test():
    assert sorted(split_documents(["a", "b", "c"]).values()) == ["test", "train", "val"]
