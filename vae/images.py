"""Turn a user's image into a 28x28 training-style input, step by step (pure PIL / numpy).

`decode_image` reads untrusted bytes safely (size limit, first frame, 16-bit and CMYK handled);
`prepare_image` then repeats how the datasets were made: EXIF orientation, alpha composited,
grayscale, light background inverted, background to black, cropped to the ink, scaled and placed
in 28x28 (MNIST: longer side 20 px, centred by mass; Fashion-MNIST and any other dataset: longer side 28 px,
centred).
Every failure raises `ImageError`, whose message is one sentence meant for the user.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vae.rendering import thumbnail

ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
UPLOAD_TYPES = ("png", "jpg", "jpeg", "bmp", "gif", "webp")
MAX_PIXELS = 50_000_000  # 50 megapixels: any phone photo; a 20,000 x 20,000 bomb is refused before decoding
WORKING_SIDE = 2048  # larger images are reduced to this longer side before preparing them
STRIP_BYTES = 2**20  # raw bytes of one band of rows of a large PNG, decoded and reduced at a time
CANVAS_BYTES = 16 * 2**20  # most bytes the reduced copy of a large PNG may take (then at most WORKING_SIDE px)
JPEG_DECODE_BYTES = 24 * 2**20  # most bytes a large JPEG may take decoded (at a reduced scale)
FULL_DECODE_BYTES = 32 * 2**20  # most bytes another image decoded in one piece may take with its copies
SIZE = 28
THUMBNAIL = 112  # longest side of the step thumbnails, in pixels
INK_LEVEL = 64  # after "background to black", pixels at or above this count as ink for the bounding box
MIN_CONTRAST = 24  # grey levels between background and brightest ink below which an image is blank
_BAND_ROWS = 128  # rows of a working image handled at a time where float copies are made
_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


class ImageError(ValueError):
    """An image that cannot be used; the message is one sentence for the user."""


@dataclass(frozen=True)
class Step:
    """One preprocessing step for display: a title, what it did, and a small uint8 image."""

    title: str
    note: str
    image: np.ndarray  # (H, W) grayscale or (H, W, 3|4) colour, at most THUMBNAIL px on its longer side


@dataclass(frozen=True)
class Prepared:
    """A user image prepared like the training data."""

    pixels: np.ndarray  # uint8 (28, 28), light ink on black
    steps: tuple[Step, ...]
    notes: tuple[str, ...]  # remarks from decoding (first frame of an animation, 16-bit scaled...)
    inverted: bool

    def as_float(self) -> np.ndarray:
        """Pixels as float32 in [0, 1], shape (1, 1, 28, 28), as the models take them."""
        return (self.pixels.astype(np.float32) / 255.0)[None, None]


@dataclass(frozen=True)
class Decoded:
    """A decoded image in mode L, RGB or RGBA, with remarks on what decoding had to do."""

    image: Image.Image
    notes: tuple[str, ...]
    orientation: int = 1  # the EXIF orientation tag, applied by `prepare_image`


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in data[:65536].lower()


def _high_bit_to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float grayscale image scaled to 8 bits."""
    arr = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and 255 < arr.max() <= 65535):
        arr = arr / 257.0
    elif image.mode == "F" and arr.max() <= 1.0:
        arr = arr * 255.0
    elif arr.max() > 255 or arr.min() < 0:
        lo, hi = arr.min(), arr.max()
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")


def _to_l_rgb_rgba(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """Convert any Pillow mode to L, RGB or RGBA, with a remark when something was lost or converted."""
    mode = image.mode
    if mode in ("L", "RGB", "RGBA"):
        return image, []
    if mode in _HIGH_BIT_MODES:
        return _high_bit_to_8bit(image), ["16-bit image scaled down to 8 bits."]
    if mode == "CMYK":
        return image.convert("RGB"), ["CMYK colours converted to RGB."]
    if mode in ("LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA"), []
    if mode == "1":
        return image.convert("L"), []
    return image.convert("RGB"), []


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode untrusted image bytes (first frame only) to mode L, RGB or RGBA; raise ImageError if unusable.

    Memory stays bounded: a large non-interlaced PNG (any but 16-bit colour) is decoded a band of rows at a time,
    each band converted and reduced before the next; a large JPEG is decoded at a reduced scale; any other image is
    decoded whole only when it and its copies take at most FULL_DECODE_BYTES, else it is refused with a sentence.
    """
    if not data:
        raise ImageError("The file is empty; choose a PNG, JPEG, BMP, GIF or WebP image.")
    if _looks_like_svg(data):
        raise ImageError("The file is an SVG drawing, not a pixel image; export it as PNG first.")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageError(
            f"The image is too large to open safely; the limit is {max_pixels / 1e6:.0f} megapixels."
        ) from None
    except Exception:  # UnidentifiedImageError, SyntaxError, struct.error... from a damaged header
        raise ImageError(
            "The file is not a readable PNG, JPEG, BMP, GIF or WebP image (it may be damaged or another format)."
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"The image is {width:,} x {height:,} pixels, too large to open safely; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels."
        )
    if width < 1 or height < 1:
        raise ImageError("The image has no pixels.")
    notes: list[str] = []
    try:
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            image.seek(0)
            notes.append(f"Animated image: the first of its {frames} frames is used.")
        png = _png_layout(data) if image.format == "PNG" and frames == 1 else None
        if png is not None and max(width, height) > WORKING_SIDE:
            image, converted, orientation = _decode_png_in_bands(png)
            return Decoded(image, tuple(notes + converted), orientation)
        opened = image.size
        if image.format == "JPEG":
            _draft_jpeg(image)
        _check_full_decode(image, max_pixels)
        image.load()
        orientation = _exif_orientation(image)
        image, converted = _to_l_rgb_rgba(image)
        image.load()
        if max(image.size) > WORKING_SIDE and image.mode == "RGBA":  # plenty for a 28 x 28 result
            image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
            converted.append(f"Large image: processed at {WORKING_SIDE} px on its longer side.")
        elif max(image.size) > WORKING_SIDE:
            image = _shrunk(image, _fitted(*image.size))
            converted.append(f"Large image: processed at {WORKING_SIDE} px on its longer side.")
        elif image.size != opened:  # a JPEG decoded at a reduced scale
            converted.append(f"Large image: processed at {max(image.size)} px on its longer side.")
    except ImageError:
        raise
    except Exception:  # truncated data, bad EXIF, decoder errors
        raise ImageError(
            "The image data is damaged or cut short, so it cannot be decoded; try saving it again."
        ) from None
    return Decoded(image, tuple(notes + converted), orientation)


def _fitted(width: int, height: int, side: int = WORKING_SIDE) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `side` px, rounded as `Image.thumbnail` rounds them."""
    aspect = width / height
    if aspect >= 1:
        short = min(math.floor(side / aspect), math.ceil(side / aspect), key=lambda n: n and abs(aspect - side / n))
        return side, max(short, 1)
    short = min(math.floor(side * aspect), math.ceil(side * aspect), key=lambda n: abs(aspect - n / side))
    return max(short, 1), side


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` (L or RGB) resized to `size` like `Image.resize` with LANCZOS, its two passes (across, then down) one
    after the other, so the caller's copy can go before the second pass; the pixels are the same."""
    image = image.resize((size[0], image.height), Image.Resampling.LANCZOS)
    return image.resize(size, Image.Resampling.LANCZOS)


def _bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow stores per pixel of `mode` (1, 2 or 4)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


def _decoded_bytes(image: Image.Image) -> int:
    """Bytes that decoding `image` whole, converting it to L, RGB or RGBA and shrinking it take together at most
    (an RGBA image larger than WORKING_SIDE is shrunk premultiplied: one more copy)."""
    mode = image.mode
    converted = 0 if mode in ("L", "RGB") else 1 if mode == "1" or mode in _HIGH_BIT_MODES else 4
    alpha = mode in ("RGBA", "LA", "La", "PA", "RGBa") or "transparency" in image.info
    converted += 4 if alpha and max(image.size) > WORKING_SIDE else 0
    converted += 8 if image.format == "WEBP" else 0  # its decoder holds libwebp's RGBA copy and a bytes copy
    return image.width * image.height * (_bytes_per_pixel(mode) + converted)


def _draft_jpeg(image: Image.Image) -> None:
    """Ask the JPEG decoder for the smallest of its scales (1, 1/2, 1/4, 1/8) that still covers WORKING_SIDE, or a
    smaller one when that would take more than JPEG_DECODE_BYTES."""
    target = _fitted(*image.size)
    ratio = min(image.width // target[0], image.height // target[1])
    scale = next(s for s in (8, 4, 2, 1) if ratio >= s or s == 1)
    while scale < 8 and image.width * image.height * 4 // (scale * scale) > JPEG_DECODE_BYTES:
        scale *= 2
    image.draft(image.mode, (max(1, image.width // scale), max(1, image.height // scale)))


def _check_full_decode(image: Image.Image, max_pixels: int) -> None:
    """Raise ImageError if decoding `image` in one piece would take more than FULL_DECODE_BYTES."""
    if _decoded_bytes(image) <= FULL_DECODE_BYTES:
        return
    limit = FULL_DECODE_BYTES / (_decoded_bytes(image) / (image.width * image.height)) / 1e6
    raise ImageError(
        f"The image is {image.width:,} x {image.height:,} pixels, too large to decode safely in this form "
        f"({image.format}: at most {limit:.1f} megapixels; saved as a non-interlaced PNG or a JPEG it may have up to "
        f"{max_pixels / 1e6:.0f})."
    )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


@dataclass(frozen=True)
class _Png:
    """The parts of a PNG file needed to decode it a band of rows at a time."""

    width: int
    height: int
    header: bytes  # the IHDR chunk's data
    palette: tuple[tuple[bytes, bytes], ...]  # (type, data) of the PLTE and tRNS chunks
    idat: tuple[memoryview, ...]  # the compressed image data, chunk by chunk
    exif: bytes | None  # the eXIf chunk's data
    row_bytes: int  # bytes of one unfiltered row


def _png_layout(data: bytes) -> _Png | None:
    """The chunks of a PNG that can be decoded in bands (not interlaced, not 16-bit colour), else None."""
    view = memoryview(data)
    if bytes(view[:8]) != _PNG_SIGNATURE or len(view) < 33:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", view[16:29])
    if interlace or colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16) or (depth == 16 and colour):
        return None  # Pillow keeps only 8 of 16 bits in colour, so their rows could not be handed on exactly
    palette, idat, exif, pos = [], [], None, 8
    while pos + 8 <= len(view):
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        body = view[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            idat.append(body)
        elif kind in (b"PLTE", b"tRNS"):
            palette.append((kind, bytes(body)))
        elif kind == b"eXIf":
            exif = bytes(body)
        elif kind == b"acTL":  # an animation: left to Pillow
            return None
        elif kind == b"IEND":
            break
    row_bytes = (width * _PNG_CHANNELS[colour] * depth + 7) // 8
    return _Png(width, height, bytes(view[16:29]), tuple(palette), tuple(idat), exif, row_bytes)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bands(png: _Png, rows: int) -> Iterator[Image.Image]:
    """The PNG's rows decoded `rows` at a time, each band a Pillow image of the file's width.

    Every band is inflated from the file's stream and handed to Pillow as a small PNG of its own (stored, not
    compressed again); the band's first row may be filtered against the row above it, so that row (the previous
    band's last, packed back to the file's layout) goes first, unfiltered, and is dropped after decoding. Rows of
    fewer than 8 bits per pixel are packed back with zero padding bits, as encoders write them.
    """
    inflater = zlib.decompressobj()
    chunks = iter(png.idat)
    pending: bytes | memoryview = b""
    above = b""
    done = 0
    while done < png.height:
        count = min(rows, png.height - done)
        need = count * (png.row_bytes + 1)
        raw = bytearray(b"\x00" + above if above else b"")
        need += len(raw)
        while len(raw) < need:
            if not pending:
                pending = next(chunks, b"")
                if not pending or inflater.eof:
                    raise ImageError(
                        "The image data is damaged or cut short, so it cannot be decoded; try saving it again."
                    )
            raw += inflater.decompress(pending, need - len(raw))
            pending = inflater.unconsumed_tail
        header = struct.pack(">II", png.width, count + bool(above)) + png.header[8:]
        band_png = b"".join(
            [_PNG_SIGNATURE, _png_chunk(b"IHDR", header)]
            + [_png_chunk(kind, body) for kind, body in png.palette]
            + [_png_chunk(b"IDAT", zlib.compress(raw, 0)), _png_chunk(b"IEND", b"")]
        )
        del raw
        band = Image.open(io.BytesIO(band_png), formats=["PNG"])
        args = band.tile[0].args
        rawmode = args if isinstance(args, str) else args[0]  # how the rows are laid out: "RGBA", "I;16B", "P;4"...
        band.load()
        if above:
            band = band.crop((0, 1, band.width, band.height))
        above = band.crop((0, band.height - 1, band.width, band.height)).tobytes("raw", rawmode)
        done += count
        yield band


def _decode_png_in_bands(png: _Png) -> tuple[Image.Image, list[str], int]:
    """A large PNG as (image in L, RGB or RGBA with WORKING_SIDE px on its longer side, remarks, EXIF orientation).

    Bands of rows are converted and reduced by a whole factor (box average) one at a time into a copy that fits
    CANVAS_BYTES, then resized to at most WORKING_SIDE px on its longer side; the whole image is never in memory.
    """
    width, height = png.width, png.height
    per_pixel = 1 if png.header[9] == 0 and not png.palette else 4
    factor = max(1, max(width, height) // WORKING_SIDE)
    while -(-width // factor) * -(-height // factor) * per_pixel > CANVAS_BYTES:
        factor += 1
    rows = max(1, STRIP_BYTES // (png.row_bytes + 1) // factor) * factor
    canvas, notes, top = None, [], 0
    for band in _png_bands(png, rows):
        band, converted = _to_l_rgb_rgba(band)
        notes += [n for n in converted if n not in notes]
        if factor > 1:
            band = band.reduce(factor)
        if canvas is None:
            canvas = Image.new(band.mode, (-(-width // factor), -(-height // factor)))
        canvas.paste(band, (0, top))
        top += band.height
    if max(canvas.size) > WORKING_SIDE:
        canvas = _shrunk(canvas, _fitted(width, height))
    notes.append(f"Large image: processed at {max(canvas.size)} px on its longer side.")
    orientation = 1
    if png.exif is not None:
        exif = Image.Exif()
        try:
            exif.load(png.exif)
            orientation = int(exif.get(0x0112, 1))
        except Exception:  # a broken EXIF block is ignored, as viewers do
            orientation = 1
    return canvas, notes, orientation if orientation in _ORIENTATION else 1


def _exif_orientation(image: Image.Image) -> int:
    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is ignored, as viewers do
        return 1
    return orientation if orientation in _ORIENTATION else 1


_ORIENTATION = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned upright according to its EXIF orientation tag (1-8; 1 means as stored)."""
    method = _ORIENTATION.get(orientation)
    return image if method is None else image.transpose(method)


def _border(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring, about 3% of the size deep (at least 1 px)."""
    h, w = gray.shape
    d = max(1, round(0.03 * min(h, w)))
    return np.concatenate([gray[:d].ravel(), gray[-d:].ravel(), gray[:, :d].ravel(), gray[:, -d:].ravel()])


def background_level(gray: np.ndarray) -> float:
    """The background grey level of a grayscale image: the median of its border."""
    return float(np.median(_border(gray)))


def composite_alpha(rgba: np.ndarray) -> tuple[np.ndarray, str]:
    """RGBA (H, W, 4) onto the backdrop that contrasts with its ink: black under light ink, white otherwise.

    Works through _BAND_ROWS rows at a time, so its float copies stay small whatever the image's size.
    """
    luma_weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    weight = ink = 0.0
    for top in range(0, rgba.shape[0], _BAND_ROWS):
        band = rgba[top : top + _BAND_ROWS]
        alpha = band[..., 3].astype(np.float32) / 255.0
        weight += float(alpha.sum(dtype=np.float64))
        ink += float(((band[..., :3].astype(np.float32) @ luma_weights) * alpha).sum(dtype=np.float64))
    light_ink = weight > 0 and ink / weight > 127.5
    backdrop = 0.0 if light_ink else 255.0
    out = np.empty((*rgba.shape[:2], 3), dtype=np.uint8)
    for top in range(0, rgba.shape[0], _BAND_ROWS):
        band = rgba[top : top + _BAND_ROWS]
        alpha = band[..., 3:4].astype(np.float32) / 255.0
        mixed = band[..., :3].astype(np.float32)
        mixed *= alpha
        mixed += backdrop * (1.0 - alpha)
        out[top : top + _BAND_ROWS] = np.clip(np.rint(mixed), 0, 255)
    return out, f"transparent parts filled with {'black' if light_ink else 'white'}"


def _percentile_uint8(gray: np.ndarray, q: float) -> float:
    """`np.percentile(gray, q)` (linear) of a uint8 image, from its histogram instead of a sorted float copy."""
    counts = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    index = q / 100 * (gray.size - 1)
    below = int(index)
    a, b = (float(np.searchsorted(counts, k, side="right")) for k in (below, min(below + 1, gray.size - 1)))
    t = index - below
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)


def stretch_contrast(gray: np.ndarray) -> np.ndarray:
    """Levels: a dark background (border median) to 0, the brightest ink to 255; raise ImageError if nothing stands out.

    A light background (left so when inversion is off) keeps its place: only the darkest 1 % go to 0.
    """
    background = background_level(gray)
    lo = background if background <= 127.5 else _percentile_uint8(gray, 1)
    hi = float(gray.max())
    if hi - lo < MIN_CONTRAST:
        raise ImageError("The image is blank: nothing stands out from its background.")
    lo += 0.1 * (hi - lo)  # a margin above the background removes paper texture and sensor noise
    out = np.empty_like(gray, dtype=np.uint8)
    for top in range(0, gray.shape[0], _BAND_ROWS):  # a band at a time: small float copies
        band = (gray[top : top + _BAND_ROWS].astype(np.float32) - lo) * (255.0 / (hi - lo))
        out[top : top + _BAND_ROWS] = np.clip(np.rint(band), 0, 255)
    return out


def ink_box(gray: np.ndarray, level: int = INK_LEVEL) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), bottom/right exclusive, of the pixels at or above `level`."""
    rows, cols = np.nonzero((gray >= level).any(1))[0], np.nonzero((gray >= level).any(0))[0]
    if len(rows) == 0:
        raise ImageError("The image is blank: nothing stands out from its background.")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def scale_longer_side(gray: np.ndarray, side: int) -> np.ndarray:
    """Resize so the longer side is `side` px, keeping the aspect ratio (the shorter side at least 1 px)."""
    h, w = gray.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL takes (width, height)
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))


def centre_of_mass(gray: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre of an image (its middle when it is all black)."""
    total = float(gray.sum(dtype=np.float64))
    if total == 0:
        return (gray.shape[0] - 1) / 2, (gray.shape[1] - 1) / 2
    rows, cols = np.indices(gray.shape)
    return float((rows * gray).sum() / total), float((cols * gray).sum() / total)


def place_by_mass(patch: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Put `patch` in a size x size black field with its centre of mass at (size/2, size/2), as MNIST was made.

    The shift is rounded to whole pixels and kept small enough that the patch stays inside the field.
    """
    h, w = patch.shape
    cy, cx = centre_of_mass(patch)
    top = min(max(round(size / 2 - cy), 0), size - h)
    left = min(max(round(size / 2 - cx), 0), size - w)
    out = np.zeros((size, size), dtype=np.uint8)
    out[top : top + h, left : left + w] = patch
    return out


def place_centred(patch: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Put `patch` in the middle of a size x size black field, as Fashion-MNIST was made."""
    h, w = patch.shape
    top, left = (size - h) // 2, (size - w) // 2
    out = np.zeros((size, size), dtype=np.uint8)
    out[top : top + h, left : left + w] = patch
    return out


def prepare_image(
    image: Image.Image, dataset: str, auto_invert: bool = True, notes: tuple[str, ...] = (), orientation: int = 1
) -> Prepared:
    """Prepare a decoded image (mode L, RGB or RGBA) like the training data of `dataset`, keeping every step: framed
    like MNIST's digits for 'mnist', else centred and filling the frame like Fashion-MNIST (and the user's data)."""
    steps = [Step("Your image", f"{image.width} x {image.height} px", thumbnail(image, THUMBNAIL))]

    image = apply_orientation(image, orientation)
    note = "no rotation needed" if orientation == 1 else f"EXIF orientation {orientation} applied"
    steps.append(Step("Upright", note, thumbnail(image, THUMBNAIL)))

    rgba = np.asarray(image if image.mode == "RGBA" else image.convert("RGBA"))
    if image.mode == "RGBA" and (rgba[..., 3] < 255).any():
        rgb, note = composite_alpha(rgba)
    else:
        rgb, note = rgba[..., :3], "no transparency"
    steps.append(Step("Alpha composited", note, thumbnail(rgb, THUMBNAIL)))

    gray = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))
    del rgba, rgb  # the colour copies are not needed any more
    steps.append(Step("Grayscale", "luminance", thumbnail(gray, THUMBNAIL)))

    light = background_level(gray) > 127.5
    inverted = light and auto_invert
    if inverted:
        gray = 255 - gray
    note = "light background, inverted" if inverted else "auto-inversion off" if light else "dark background, unchanged"
    steps.append(Step("Inverted" if inverted else "Not inverted", note, thumbnail(gray, THUMBNAIL)))

    gray = stretch_contrast(gray)
    steps.append(Step("Background to black", "levels stretched", thumbnail(gray, THUMBNAIL)))

    top, bottom, left, right = ink_box(gray)
    gray = gray[top:bottom, left:right]
    steps.append(Step("Cropped to the ink", f"{right - left} x {bottom - top} px", thumbnail(gray, THUMBNAIL)))

    if dataset == "mnist":
        patch = scale_longer_side(gray, 20)
        steps.append(Step("Scaled", f"longer side 20 px: {patch.shape[1]} x {patch.shape[0]}", patch))
        pixels = place_by_mass(patch)
        steps.append(Step("Placed in 28 x 28", "centre of mass at the centre", pixels))
    else:
        patch = scale_longer_side(gray, SIZE)
        steps.append(Step("Scaled", f"longer side 28 px: {patch.shape[1]} x {patch.shape[0]}", patch))
        pixels = place_centred(patch)
        steps.append(Step("Placed in 28 x 28", "centred", pixels))
    return Prepared(pixels, tuple(steps), tuple(notes), inverted)


def prepare_bytes(data: bytes, dataset: str, auto_invert: bool = True, max_pixels: int = MAX_PIXELS) -> Prepared:
    """Decode uploaded bytes and prepare them like the training data of `dataset`; raise ImageError if unusable."""
    decoded = decode_image(data, max_pixels)
    return prepare_image(decoded.image, dataset, auto_invert, decoded.notes, decoded.orientation)


def prepare_array(rgba: np.ndarray, dataset: str, auto_invert: bool = True) -> Prepared:
    """Prepare a drawing given as a uint8 array (H, W), (H, W, 3) or (H, W, 4), e.g. from a canvas."""
    arr = np.ascontiguousarray(np.asarray(rgba).astype(np.uint8, copy=False))
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
        raise ImageError("The drawing has an unexpected shape; draw again or upload a file.")
    return prepare_image(Image.fromarray(arr), dataset, auto_invert)
