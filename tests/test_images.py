"""Preprocessing of user images: known inputs give known outputs, and bad files give one clear sentence."""

from __future__ import annotations

import io
import math
import re
import struct
import zlib
from pathlib import Path

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


# ---------------------------------------------------------------------------------------------------------------
# Memory: large images are decoded a band of rows at a time
# ---------------------------------------------------------------------------------------------------------------


def pattern(height: int = 97, width: int = 301, seed: int = 0) -> np.ndarray:
    """uint8 (height, width): a diagonal gradient, a patch of noise and flat bands, so an encoder uses every filter."""
    rng = np.random.default_rng(seed)
    a = ((np.arange(height)[:, None] * 3 + np.arange(width)[None, :] * 2) % 256).astype(np.uint8)
    a[height // 3 : height // 2, width // 4 :] = rng.integers(0, 256, (height // 2 - height // 3, width - width // 4))
    a[-height // 5 :] = 200
    return a


def every_filter_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of `rgb` (H, W, 3) whose rows take the five filters in turn (none, sub, up, average, paeth)."""
    rows = rgb.reshape(rgb.shape[0], -1).astype(np.int16)
    out, above = [], np.zeros_like(rows[0])
    for y, row in enumerate(rows):
        left, corner = np.concatenate([[0, 0, 0], row[:-3]]), np.concatenate([[0, 0, 0], above[:-3]])
        guess = left + above - corner
        paeth = np.where(
            (abs(guess - left) <= abs(guess - above)) & (abs(guess - left) <= abs(guess - corner)),
            left,
            np.where(abs(guess - above) <= abs(guess - corner), above, corner),
        )
        predictor = [0, left, above, (left + above) // 2, paeth][y % 5]
        out.append(bytes([y % 5]) + ((row - predictor) % 256).astype(np.uint8).tobytes())
        above = row
    header = struct.pack(">IIBBBBB", rgb.shape[1], rgb.shape[0], 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(out))) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def png_kinds() -> dict[str, bytes]:
    """The same picture as a PNG of every layout the band decoder handles: name -> file bytes."""
    grey = pattern()
    rgba = np.stack([grey, pattern(seed=1), 255 - grey, pattern(seed=2)], axis=-1)
    palette = Image.fromarray(rgba[..., :3]).quantize(200)
    return {
        "L": encode(Image.fromarray(grey)),
        "RGB": encode(Image.fromarray(rgba[..., :3])),
        "RGBA": encode(Image.fromarray(rgba)),
        "LA": encode(Image.fromarray(rgba[..., :2].copy()).convert("LA")),
        "P": encode(palette),
        "P with transparency": encode(palette, transparency=5),
        "P 4-bit": encode(Image.fromarray(grey // 16).convert("P"), bits=4),
        "1-bit": encode(Image.fromarray(grey).convert("1")),
        "I;16": encode(Image.fromarray(grey.astype(np.uint16) * 251 + 7)),
        "RGB, every filter": every_filter_png(rgba[..., :3]),
    }


def row_filters(data: bytes) -> set[int]:
    """The filter types of the rows of a non-interlaced PNG (0 none, 1 sub, 2 up, 3 average, 4 paeth)."""
    png = images._png_layout(data)
    raw = zlib.decompress(b"".join(png.idat))
    return set(raw[:: png.row_bytes + 1])


@pytest.mark.parametrize("kind", list(png_kinds()))
def test_a_png_decoded_a_band_of_rows_at_a_time_equals_the_whole_image(kind):
    data = png_kinds()[kind]
    whole = Image.open(io.BytesIO(data))
    whole.load()
    png = images._png_layout(data)
    bands = list(images._png_bands(png, rows=7))
    assert len(bands) == 14 and all(band.mode == whole.mode for band in bands)
    stacked = np.concatenate([np.asarray(band) for band in bands])
    np.testing.assert_array_equal(stacked, np.asarray(whole))


def test_the_band_test_images_use_filters_that_look_at_the_row_above():
    used = set().union(*(row_filters(data) for data in png_kinds().values()))
    assert {1, 2, 3, 4} <= used, used  # up, average and paeth need the row above a band's first row


def test_a_large_png_decoded_in_bands_looks_like_the_whole_image_reduced():
    big = np.kron(pattern(), np.ones((24, 24), np.uint8))  # 7224 x 2328, smooth at the working scale
    decoded = images.decode_image(encode(Image.fromarray(big)))
    reference = Image.fromarray(big)
    reference.thumbnail((images.WORKING_SIDE, images.WORKING_SIDE), Image.Resampling.LANCZOS)
    assert decoded.image.size == reference.size == (2048, 660)
    difference = np.abs(np.asarray(decoded.image, float) - np.asarray(reference, float))
    assert difference.mean() < 2 and np.percentile(difference, 99) < 16
    assert any("2048 px" in note for note in decoded.notes)


def test_a_large_png_cut_short_gives_one_sentence():
    data = encode(Image.fromarray(np.kron(pattern(), np.ones((8, 8), np.uint8))))
    with pytest.raises(ImageError) as caught:
        images.decode_image(data[: len(data) // 2])
    assert "damaged or cut short" in str(caught.value)
    assert_one_sentence(str(caught.value))


@pytest.mark.parametrize("layout", [(6, 8, 1), (2, 16, 0)], ids=["interlaced RGBA", "16-bit RGB"])
def test_a_large_png_that_cannot_be_decoded_in_bands_is_refused_before_decoding(layout):
    colour, depth, interlace = layout
    header = struct.pack(">IIBBBBB", 6000, 6000, depth, colour, 0, 0, interlace)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")  # no pixel data at all
    with pytest.raises(ImageError) as caught:
        images.decode_image(data)
    assert "6,000 x 6,000 pixels, too large to decode safely" in str(caught.value)
    assert_one_sentence(str(caught.value))


def write_png(path, width: int, height: int, colour: int, depth: int, background: bytes, ink: bytes) -> None:
    """A PNG streamed row by row (never whole in memory): `background` pixels with an `ink` square in the middle
    third; every row but the first filtered against the row above (filter 2, up)."""
    third = slice(width // 3 * len(ink), 2 * width // 3 * len(ink))
    plain = np.frombuffer(background * width, np.uint8)
    inked = plain.copy()
    inked[third] = np.frombuffer(ink * (width // 3 * 2 - width // 3), np.uint8)
    packer = zlib.compressobj(1)
    parts, previous = [], None
    for y in range(height):
        row = inked if height // 3 <= y < 2 * height // 3 else plain
        filtered = row if previous is None else row - previous  # uint8 arithmetic wraps, as PNG's does
        parts.append(packer.compress(bytes([0 if previous is None else 2]) + filtered.tobytes()))
        previous = row
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


MEASURE = """
import json, re, sys
from pathlib import Path
from vae import images

def kib(field):
    return int(re.search(field + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))

images.prepare_bytes(Path(sys.argv[2]).read_bytes(), "mnist")  # Pillow's plugins loaded before the baseline
data = Path(sys.argv[1]).read_bytes()
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from what is resident now
before = kib("VmRSS")
prepared = images.prepare_bytes(data, "mnist")
peak = kib("VmHWM")
rows, cols = prepared.pixels.any(1).nonzero()[0], prepared.pixels.any(0).nonzero()[0]
print(json.dumps({"mib": (peak - before) / 1024, "rows": len(rows), "cols": len(cols), "notes": prepared.notes}))
"""


WEBP_SIDE = math.isqrt(images.FULL_DECODE_BYTES // 12)  # the largest square RGB WebP decoded whole


def grey_page(side: int) -> Image.Image:
    """A light RGB page side x side px with a dark square in its middle third."""
    page = Image.new("L", (side, side), 235)
    page.paste(20, (side // 3, side // 3, 2 * side // 3, 2 * side // 3))
    return page.convert("RGB")


def test_a_webp_just_over_its_limit_for_images_decoded_whole_is_refused():
    with pytest.raises(ImageError) as caught:
        images.decode_image(encode(grey_page(WEBP_SIDE + 20), "WebP"))
    assert "too large to decode safely" in str(caught.value)
    assert_one_sentence(str(caught.value))


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, size",
    [
        ("16-bit grey PNG", 7000),
        ("RGBA PNG", 7071),
        ("JPEG", 7071),
        ("JPEG", 4032),
        ("WebP", WEBP_SIDE),
    ],
    ids=[
        "16-bit grey PNG 7000 x 7000",
        "RGBA PNG at the pixel limit",
        "JPEG at the pixel limit",
        "JPEG of 16 megapixels",
        "WebP at the limit for images decoded whole",
    ],
)
def test_one_upload_up_to_the_pixel_limit_costs_at_most_100_mb_of_peak_memory(kind, size, tmp_path):
    import json
    import subprocess
    import sys

    assert size * size <= images.MAX_PIXELS
    path = tmp_path / "upload"
    if kind == "16-bit grey PNG":
        write_png(path, size, size, 0, 16, b"\x00\x00", b"\xea\x60")  # 60000 on 0
    elif kind == "RGBA PNG":
        write_png(path, size, size, 6, 8, b"\xff\xff\xff\x00", b"\x00\x00\x00\xff")  # black on transparent
    else:
        path.write_bytes(encode(grey_page(size), kind, quality=90))
    (tmp_path / "small.png").write_bytes(encode(Image.fromarray(square())))
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(tmp_path / "small.png")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(out.stdout)
    assert measured["rows"] == measured["cols"] == 20, measured  # the square, framed like an MNIST digit
    assert measured["mib"] <= 100, f"{kind}: {measured['mib']:.0f} MiB of peak memory above the baseline"
