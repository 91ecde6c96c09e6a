"""Object keys the store accepts (linerec.infra.storage.validate_key)."""

from __future__ import annotations

import pytest

from linerec.infra.storage import validate_key


@pytest.mark.parametrize("key", ["pages/abc", "datasets/ds-1/train-00000-of-00001.tfrecord", "a=b/c.json"])
def test_valid_keys(key):
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../b", "a//b", "a/./b", "a b", "x\x00y"])
def test_unsafe_keys_rejected(key):
    with pytest.raises(ValueError, match="unsafe object key"):
        validate_key(key)
