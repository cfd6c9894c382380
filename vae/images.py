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
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vae.rendering import thumbnail

ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
UPLOAD_TYPES = ("png", "jpg", "jpeg", "bmp", "gif", "webp")
MAX_PIXELS = 50_000_000  # 50 megapixels: any phone photo; a 20,000 x 20,000 bomb is refused before decoding
WORKING_SIDE = 2048  # larger images are reduced to this longer side before preparing them
SIZE = 28
THUMBNAIL = 112  # longest side of the step thumbnails, in pixels
INK_LEVEL = 64  # after "background to black", pixels at or above this count as ink for the bounding box
MIN_CONTRAST = 24  # grey levels between background and brightest ink below which an image is blank
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
    """Decode untrusted image bytes (first frame only) to mode L, RGB or RGBA; raise ImageError if unusable."""
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
        if image.format == "JPEG":
            image.draft(image.mode, (WORKING_SIDE, WORKING_SIDE))  # decode big photos at a reduced scale
        image.load()
        orientation = _exif_orientation(image)
        image, converted = _to_l_rgb_rgba(image)
        image.load()
        if max(image.size) > WORKING_SIDE:  # plenty for a 28 x 28 result, and bounded memory
            image = image.copy()
            image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
            converted.append(f"Large image: processed at {WORKING_SIDE} px on its longer side.")
    except ImageError:
        raise
    except Exception:  # truncated data, bad EXIF, decoder errors
        raise ImageError(
            "The image data is damaged or cut short, so it cannot be decoded; try saving it again."
        ) from None
    return Decoded(image, tuple(notes + converted), orientation)


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
    """RGBA (H, W, 4) onto the backdrop that contrasts with its ink: black under light ink, white otherwise."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32)
    weight = float(alpha.sum())
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    light_ink = weight > 0 and float((luma * alpha[..., 0]).sum() / weight) > 127.5
    backdrop = 0.0 if light_ink else 255.0
    out = np.clip(np.rint(rgb * alpha + backdrop * (1.0 - alpha)), 0, 255).astype(np.uint8)
    return out, f"transparent parts filled with {'black' if light_ink else 'white'}"


def stretch_contrast(gray: np.ndarray) -> np.ndarray:
    """Levels: a dark background (border median) to 0, the brightest ink to 255; raise ImageError if nothing stands out.

    A light background (left so when inversion is off) keeps its place: only the darkest 1 % go to 0.
    """
    background = background_level(gray)
    lo = background if background <= 127.5 else float(np.percentile(gray, 1))
    hi = float(gray.max())
    if hi - lo < MIN_CONTRAST:
        raise ImageError("The image is blank: nothing stands out from its background.")
    lo += 0.1 * (hi - lo)  # a margin above the background removes paper texture and sensor noise
    out = (gray.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


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

    rgba = np.asarray(image.convert("RGBA"))
    if image.mode == "RGBA" and (rgba[..., 3] < 255).any():
        rgb, note = composite_alpha(rgba)
    else:
        rgb, note = rgba[..., :3], "no transparency"
    steps.append(Step("Alpha composited", note, thumbnail(rgb, THUMBNAIL)))

    gray = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))
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
