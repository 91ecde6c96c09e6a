"""Tests for linerec.model.charset."""

import pytest

from linerec.model.charset import BLANK, DEFAULT_CHARS, Charset


def test_default_is_printable_ascii_extras_plus_blank():
    cs = Charset()
    assert len(DEFAULT_CHARS) == 108
    assert DEFAULT_CHARS[0] == " " and DEFAULT_CHARS[94] == "~"
    assert "\u20ac" in DEFAULT_CHARS and "\u2014" in DEFAULT_CHARS
    assert cs.size == 109
    assert BLANK == 0


def test_encode_decode_roundtrip():
    cs = Charset()
    text = "Hello, World! 42 ~{}"
    ids = cs.encode(text)
    assert all(1 <= i < cs.size for i in ids)
    assert cs.decode(ids) == text


def test_encode_maps_to_one_based_ids():
    cs = Charset("abc")
    assert cs.encode("cab") == [3, 1, 2]
    assert cs.size == 4


def test_out_of_vocabulary_names_the_char():
    with pytest.raises(ValueError, match="'é'"):
        Charset().encode("café")


def test_decode_skips_blank_and_padding():
    cs = Charset("ab")
    assert cs.decode([0, 1, -1, 2, 0]) == "ab"
    with pytest.raises(ValueError):
        cs.decode([3])


def test_json_roundtrip_and_equality():
    cs = Charset("xyz ")
    again = Charset.from_json(cs.to_json())
    assert again == cs and again.chars == "xyz "
    assert Charset.from_json({"chars": "xyz "}) == cs


def test_rejects_duplicates_and_empty():
    with pytest.raises(ValueError):
        Charset("aa")
    with pytest.raises(ValueError):
        Charset("")
