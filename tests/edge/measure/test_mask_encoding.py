"""Compact mask encodings: COCO RLE against pycocotools, 1-bit PNG, base64 and the payload form."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.measure.mask_encoding import (
    b64decode,
    b64encode,
    decode_mask,
    decode_png_1bit,
    decode_rle,
    encode_mask,
    encode_png_1bit,
    encode_rle,
    rle_area,
    rle_counts,
    rle_counts_from_string,
    rle_counts_to_string,
    rle_to_mask,
)
from edge.synth import render_weld

coco = pytest.importorskip("pycocotools.mask", reason="pycocotools (dev extra) is needed for the reference")
# pycocotools' decode trips NumPy 2's copy-keyword deprecation inside pycocotools itself.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

TINY = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0]], np.uint8)


def random_masks() -> list[np.ndarray]:
    rng = np.random.default_rng(20240611)
    masks = []
    for i in range(60):
        height, width = (int(v) for v in rng.integers(1, 90, size=2))
        if i % 3 == 0:
            mask = (rng.random((height, width)) < rng.random()).astype(np.uint8)
        else:  # long runs: large counts and large differences exercise the multi-group numbers
            mask = np.zeros((height, width), np.uint8)
            y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
            mask[y:, x:] = 1
            mask[: y // 2, : x // 3] = 1
        masks.append(mask)
    masks += [np.zeros((7, 5), np.uint8), np.ones((7, 5), np.uint8), np.ones((1, 1), np.uint8)]
    masks += [render_weld(4, index, (180, 240)).mask for index in range(4)]
    return masks


def test_hand_checked_tiny_mask() -> None:
    # Column-major: col 0 = 0 0 1, col 1 = 1 1 0, col 2 = 0 1 0 -> runs 2 x0, 3 x1, 2 x0, 1 x1, 1 x0.
    assert rle_counts(TINY) == [2, 3, 2, 1, 1]
    # 2, 3, 2 as single groups ('0' + n); then 1 - 3 = -2 -> 30 -> 'N', 1 - 2 = -1 -> 31 -> 'O'.
    assert rle_counts_to_string([2, 3, 2, 1, 1]) == "232NO"
    assert encode_rle(TINY) == {"size": [3, 3], "counts": "232NO"}
    assert encode_rle(TINY, compressed=False) == {"size": [3, 3], "counts": [2, 3, 2, 1, 1]}
    assert coco.encode(np.asfortranarray(TINY))["counts"] == b"232NO"
    assert rle_counts(np.ones((1, 1), np.uint8)) == [0, 1]  # a set first pixel: empty 0-run first


def test_compressed_string_equals_pycocotools_byte_for_byte() -> None:
    for mask in random_masks():
        theirs = coco.encode(np.asfortranarray(mask))
        ours = encode_rle(mask)
        assert ours["size"] == list(theirs["size"])
        assert ours["counts"].encode("ascii") == theirs["counts"]
        assert rle_area(ours) == int(coco.area(theirs)) == int(mask.sum())


def test_decoding_pycocotools_output_and_theirs_of_ours() -> None:
    for mask in random_masks():
        theirs = coco.encode(np.asfortranarray(mask))
        ours_of_theirs = decode_rle({"size": theirs["size"], "counts": theirs["counts"]})
        assert ours_of_theirs.dtype == np.uint8
        np.testing.assert_array_equal(ours_of_theirs, mask)
        np.testing.assert_array_equal(coco.decode(encode_rle(mask)), mask)


def test_uncompressed_counts_match_the_coco_api() -> None:
    for mask in random_masks()[:20]:
        height, width = mask.shape
        plain = encode_rle(mask, compressed=False)
        assert sum(plain["counts"]) == height * width
        converted = coco.frPyObjects(plain, height, width)
        assert converted["counts"] == coco.encode(np.asfortranarray(mask))["counts"]
        np.testing.assert_array_equal(decode_rle(plain), mask)
        assert rle_counts_from_string(encode_rle(mask)["counts"]) == plain["counts"]


def test_bool_and_255_masks_encode_like_0_1() -> None:
    mask = render_weld(4, 1, (120, 160)).mask
    assert encode_rle(mask.astype(bool)) == encode_rle(mask) == encode_rle(mask * 255)


def test_rle_bad_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        rle_counts(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="bool or an integer"):
        rle_counts(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="sum to 5"):
        rle_to_mask([2, 3], (2, 3))
    with pytest.raises(ValueError, match="invalid character"):
        rle_counts_from_string("23 ")
    with pytest.raises(ValueError, match="ends inside"):
        rle_counts_from_string("2P")  # 'P' = 32: a continuation group with nothing after it
    with pytest.raises(ValueError, match="'size' and 'counts'"):
        decode_rle({"counts": "232NO"})


def test_png_1bit_round_trip_and_cv2_imread(tmp_path: Path) -> None:
    mask = render_weld(4, 2, (512, 512)).mask
    data = encode_png_1bit(mask)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[24] == 1  # IHDR bit depth
    assert data[25] == 0  # colour type: greyscale
    np.testing.assert_array_equal(decode_png_1bit(data), mask)
    path = tmp_path / "mask.png"
    path.write_bytes(data)
    read = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert read.shape == mask.shape
    np.testing.assert_array_equal(read > 0, mask > 0)
    ok, eight_bit = cv2.imencode(".png", mask * 255)  # OpenCV's default 8-bit PNG
    assert ok
    assert len(data) < 0.35 * len(eight_bit)
    ok, eight_bit_max = cv2.imencode(".png", mask * 255, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    assert len(data) < 0.7 * len(eight_bit_max)


def test_png_bad_input() -> None:
    with pytest.raises(ValueError, match="not a decodable PNG"):
        decode_png_1bit(b"not a png")
    with pytest.raises(ValueError, match="empty"):
        encode_png_1bit(np.zeros((0, 4), np.uint8))


def test_base64_round_trip() -> None:
    data = bytes(range(256))
    text = b64encode(data)
    assert isinstance(text, str)
    assert b64decode(text) == data
    with pytest.raises(ValueError, match="base64"):
        b64decode("abc$")


@pytest.mark.parametrize("encoding", ["coco_rle", "png_1bit"])
def test_payload_form_round_trips_through_json(encoding: str) -> None:
    mask = render_weld(4, 3, (200, 300)).mask
    payload = json.loads(json.dumps(encode_mask(mask, encoding)))
    assert payload["encoding"] == encoding
    assert payload["size"] == [200, 300]
    np.testing.assert_array_equal(decode_mask(payload), mask)


def test_payload_form_errors() -> None:
    with pytest.raises(ValueError, match="encoding must be one of"):
        encode_mask(TINY, "jpeg")
    with pytest.raises(ValueError, match="encoding must be one of"):
        decode_mask({"size": [3, 3]})
    payload = encode_mask(TINY, "png_1bit")
    with pytest.raises(ValueError, match="size says"):
        decode_mask({**payload, "size": [4, 3]})
