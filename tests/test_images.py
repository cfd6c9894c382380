"""Preprocessing of user images: known inputs give known outputs, and bad files give one clear sentence."""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vae import images
from vae.images import ImageError, prepare_array, prepare_bytes


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def square(
    size: int = 100, side: int = 40, bg: int = 0, ink: int = 255, at: tuple[int, int] | None = None
) -> np.ndarray:
    """A size x size image with one filled side x side square, centred unless `at` gives its top-left corner."""
    a = np.full((size, size), bg, np.uint8)
    top, left = at if at is not None else ((size - side) // 2, (size - side) // 2)
    a[top : top + side, left : left + side] = ink
    return a


def ell(size: int = 200) -> np.ndarray:
    """An asymmetric 'L' off the middle of a dark page: its centre of mass is far from its box's centre."""
    a = np.zeros((size, size), np.uint8)
    a[30:150, 40:60] = 255  # the upright
    a[130:150, 40:130] = 255  # the foot
    return a


def ink_rows_cols(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero(pixels.any(1))[0], np.nonzero(pixels.any(0))[0]


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, with_data: bool) -> bytes:
    """A 1-bit grayscale PNG of the given size: complete and all black (a real bomb, ~50 kB), or a header only."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    body = b""
    if with_data:
        packer = zlib.compressobj(9)
        row = b"\0" * (1 + (width + 7) // 8)
        body = _chunk(b"IDAT", b"".join(packer.compress(row) for _ in range(height)) + packer.flush())
    return b"\x89PNG\r\n\x1a\n" + ihdr + body + _chunk(b"IEND", b"")


def bad_files() -> dict[str, tuple[bytes, str | None, str | None]]:
    """The corpus of awkward uploads: name -> (bytes, expected ImageError text or None, expected note or None).

    None as the error means the file gives a sensible result instead, with the expected note (if any).
    """
    rng = np.random.default_rng(0)
    noise_png = encode(Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)))
    digit_like = square(bg=255, ink=0)  # a dark square on white paper
    bar = np.zeros((100, 100), np.uint8)
    bar[45:55, 10:90] = 255
    frames = [Image.fromarray(f) for f in (square(side=40), bar, bar.T.copy())]  # frames of different shapes
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    svg = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
        b'<circle cx="14" cy="14" r="8" fill="white"/></svg>\n'
    )
    return {
        "empty.png": (b"", "The file is empty", None),
        "random.png": (rng.bytes(4096), "not a readable PNG, JPEG, BMP, GIF or WebP image", None),
        "truncated.png": (noise_png[: len(noise_png) // 2], "damaged or cut short", None),
        "bomb.png": (png_claiming(20_000, 20_000, with_data=True), "too large to open safely", None),
        "huge-header.png": (png_claiming(8_000, 8_000, with_data=False), "8,000 x 8,000 pixels", None),
        "16bit.png": (encode(Image.fromarray(square().astype(np.uint16) * 257)), None, "16-bit"),
        "cmyk.jpg": (encode(Image.fromarray(digit_like).convert("CMYK"), "JPEG", quality=95), None, "CMYK"),
        "animated.gif": (gif.getvalue(), None, "first of its 3 frames"),
        "blank.png": (encode(Image.new("L", (300, 400), 255)), "blank", None),
        "drawing.svg.png": (svg, "SVG", None),
    }


def assert_one_sentence(message: str) -> None:
    assert re.fullmatch(r"[A-Z][^\n]*[.]", message), message
    assert not re.search(r"[.!?] [A-Z]", message), f"more than one sentence: {message}"


# ---------------------------------------------------------------------------------------------------------------
# Known inputs, known outputs
# ---------------------------------------------------------------------------------------------------------------


def test_centred_square_stays_centred_and_is_scaled_to_20_px():
    pixels = prepare_bytes(encode(Image.fromarray(square())), "mnist").pixels
    rows, cols = ink_rows_cols(pixels)
    assert len(rows) == len(cols) == 20  # the longer side becomes 20 px
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 0.5 and abs((cols[0] + cols[-1]) / 2 - 13.5) <= 0.5
    cy, cx = images.centre_of_mass(pixels)
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


def test_centre_of_mass_lands_at_the_centre_within_1px():
    pixels = prepare_array(ell(), "mnist").pixels
    cy, cx = images.centre_of_mass(pixels)
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    rows, cols = ink_rows_cols(pixels)
    box_centre = ((rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2)
    assert box_centre != pytest.approx((13.5, 13.5), abs=1)  # placed by mass, not by its box


def test_aspect_ratio_is_kept():
    wide = np.zeros((200, 300), np.uint8)
    wide[80:120, 50:250] = 255  # 200 x 40: 5 to 1
    mnist = prepare_array(wide, "mnist").pixels
    rows, cols = ink_rows_cols(mnist)
    assert (len(cols), len(rows)) == (20, 4)
    fashion = prepare_array(wide, "fashion-mnist").pixels
    rows, cols = ink_rows_cols(fashion)
    assert len(cols) == 28 and abs(len(rows) - 28 / 5) <= 1
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 0.5  # centred


def test_fashion_layout_fills_28_px_and_centres_the_box():
    pixels = prepare_bytes(encode(Image.fromarray(square(side=50, at=(10, 40)))), "fashion-mnist").pixels
    assert pixels.min() == 255  # a square scaled to 28 px fills the whole field


def test_light_background_is_inverted_and_the_toggle_turns_it_off():
    dark = prepare_array(square(), "mnist")
    light = prepare_array(square(bg=255, ink=0), "mnist")
    assert light.inverted and not dark.inverted
    np.testing.assert_array_equal(light.pixels, dark.pixels)
    kept = prepare_array(square(bg=255, ink=0), "mnist", auto_invert=False)
    assert not kept.inverted
    assert kept.pixels[14, 14] == 0 and kept.pixels[4, 14] > 200  # dark ink on a light field, as given


def test_transparent_background_is_composited_against_the_ink():
    dark_ink = np.zeros((100, 100, 4), np.uint8)
    dark_ink[30:70, 30:70] = (0, 0, 0, 255)  # black ink, transparent paper
    light_ink = np.zeros((100, 100, 4), np.uint8)
    light_ink[30:70, 30:70] = (255, 255, 255, 255)  # white ink, transparent paper
    expected = prepare_array(square(), "mnist").pixels
    for rgba in (dark_ink, light_ink):
        prepared = prepare_bytes(encode(Image.fromarray(rgba, "RGBA")), "mnist")
        np.testing.assert_array_equal(prepared.pixels, expected)


def test_exif_orientation_is_applied():
    upright = ell()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter anticlockwise; viewers rotate it 270 degrees to show it upright
    stored = Image.fromarray(np.rot90(upright, 1).copy())
    prepared = prepare_bytes(encode(stored, "JPEG", quality=98, exif=exif), "mnist")
    assert prepared.steps[1].note == "EXIF orientation 6 applied"
    expected = prepare_array(upright, "mnist").pixels
    assert np.abs(prepared.pixels.astype(int) - expected).mean() < 8  # JPEG noise only


def test_every_step_is_returned_as_a_small_image():
    prepared = prepare_bytes(encode(Image.fromarray(square(size=1000, side=400))), "mnist")
    titles = [s.title for s in prepared.steps]
    assert titles[:4] == ["Your image", "Upright", "Alpha composited", "Grayscale"]
    assert titles[-3:] == ["Cropped to the ink", "Scaled", "Placed in 28 x 28"]
    assert all(max(s.image.shape[:2]) <= images.THUMBNAIL and s.image.dtype == np.uint8 for s in prepared.steps)
    np.testing.assert_array_equal(prepared.steps[-1].image, prepared.pixels)
    x = prepared.as_float()
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32 and x.min() >= 0 and x.max() == 1


def test_canvas_drawing_is_prepared():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255  # an opaque black canvas
    canvas[60:220, 130:150, :3] = 255  # one white stroke
    prepared = prepare_array(canvas, "mnist")
    rows, cols = ink_rows_cols(prepared.pixels)
    assert len(rows) == 20 and len(cols) <= 4
    with pytest.raises(ImageError, match="blank"):
        prepare_array(np.zeros((280, 280, 4), np.uint8), "mnist")
    with pytest.raises(ImageError):
        prepare_array(np.zeros((5, 5, 7), np.uint8), "mnist")


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_real_test_images_scanned_dark_on_light_come_back_close_to_the_originals(data_dir, dataset):
    from vae.data import load_split

    originals = load_split(dataset, False, data_dir).images.numpy()[::250]
    correlations = []
    for original in originals:
        scan = Image.fromarray(255 - original).resize((280, 280), Image.Resampling.LANCZOS)
        pixels = prepare_bytes(encode(scan), dataset).pixels
        correlations.append(np.corrcoef(pixels.ravel().astype(float), original.ravel().astype(float))[0, 1])
    assert np.median(correlations) > (0.9 if dataset == "mnist" else 0.8)


# ---------------------------------------------------------------------------------------------------------------
# Bad files
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(bad_files()))
def test_bad_files_give_one_clear_sentence_or_a_sensible_result(name):
    data, error, note = bad_files()[name]
    if error is not None:
        with pytest.raises(ImageError) as caught:
            prepare_bytes(data, "mnist")
        assert error in str(caught.value)
        assert_one_sentence(str(caught.value))
    else:
        prepared = prepare_bytes(data, "mnist")
        assert prepared.pixels.shape == (28, 28) and prepared.pixels.max() == 255
        assert any(note in n for n in prepared.notes), prepared.notes
        assert all(n.endswith(".") for n in prepared.notes)


def test_animated_gif_uses_the_first_frame():
    data, _, _ = bad_files()["animated.gif"]
    first = prepare_array(square(side=40), "mnist").pixels
    np.testing.assert_array_equal(prepare_bytes(data, "mnist").pixels, first)


def test_16_bit_image_is_scaled_down_not_clipped():
    ramp = (np.linspace(0, 65535, 100 * 100).reshape(100, 100)).astype(np.uint16)
    decoded = images.decode_image(encode(Image.fromarray(ramp)))
    gray = np.asarray(decoded.image)
    assert decoded.image.mode == "L" and gray.min() == 0 and gray.max() == 255
    assert len(np.unique(gray)) > 200  # the whole range survives, not just 0 and 255


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageError, match="too large"):
        images.decode_image(png_claiming(6000, 6000, with_data=False), max_pixels=10_000_000)


def test_large_photo_is_reduced_before_preparing():
    page = np.full((2500, 3000), 230, np.uint8)
    page[800:1700, 1400:1700] = 20  # a dark bar on light paper
    prepared = prepare_bytes(encode(Image.fromarray(page)), "mnist")
    assert any("2048 px" in n for n in prepared.notes)
    assert prepared.steps[0].note == "2048 x 1707 px"
    rows, cols = ink_rows_cols(prepared.pixels)
    assert len(rows) == 20 and abs(len(cols) - 20 * 300 / 900) <= 1
