"""vae.rendering: uint8 pixels, sharp enlargement, mosaics, thumbnails and PNG / GIF bytes."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from vae import rendering
from vae.data import load_split


def test_to_uint8_scales_clips_and_inverts():
    image = np.array([[-0.5, 0.0], [0.5, 2.0]])
    assert rendering.to_uint8(image).tolist() == [[0, 0], [128, 255]]
    assert rendering.to_uint8(image, invert=True).tolist() == [[255, 255], [127, 0]]
    assert rendering.to_uint8(np.array([[7]], dtype=np.uint8)).tolist() == [[7]]


def test_upscale_repeats_pixels_of_grey_and_colour_images():
    out = rendering.upscale(np.array([[1, 2], [3, 4]]), 3)
    assert out.shape == (6, 6) and out[:3, :3].tolist() == [[1] * 3] * 3 and out[5, 5] == 4
    colour = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    big = rendering.upscale(colour, 2)
    assert big.shape == (4, 4, 3) and big[3, 3].tolist() == colour[1, 1].tolist()


def test_mosaic_places_tiles_with_padding():
    images = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1) * np.ones((2, 3, 4, 5), np.float32)
    out = rendering.mosaic(images, pad=1, pad_value=-1)
    assert out.shape == (2 * 4 + 1, 3 * 5 + 2)
    assert out[0, 0] == 0 and out[0, 6] == 1 and out[5, 12] == 5 and out[4, 0] == -1
    assert rendering.mosaic(images[0], pad=0).shape == (4, 15)  # a single row
    assert rendering.mosaic(np.zeros((1, 2, 3, 3), np.uint8))[0, 3] == 255  # uint8 padding is white


def test_png_bytes_round_trip():
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    decoded = np.array(Image.open(io.BytesIO(rendering.png_bytes(image, scale=2))))
    assert decoded.shape == (56, 56)
    assert np.array_equal(decoded[::2, ::2], rendering.to_uint8(image))


def test_gif_bytes_is_a_looping_animation_that_bounces():
    frames = np.linspace(0, 1, 5)[:, None, None] * np.ones((5, 28, 28))
    gif = Image.open(io.BytesIO(rendering.gif_bytes(frames, scale=2)))
    assert gif.format == "GIF" and gif.size == (56, 56)
    assert gif.n_frames == 8 and gif.info.get("loop") == 0  # forward 5, back 3
    gif.seek(4)
    assert np.array(gif.convert("L")).mean() > 250
    assert Image.open(io.BytesIO(rendering.gif_bytes(frames, bounce=False))).n_frames == 5


def test_data_uri_holds_the_png():
    png = rendering.png_bytes(np.zeros((28, 28)))
    uri = rendering.data_uri(png)
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]) == png


def test_thumbnail_shrinks_to_the_longer_side_and_never_enlarges():
    photo = np.random.default_rng(2).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    small = rendering.thumbnail(photo, 112)
    assert small.shape == (112, 75, 3) and small.dtype == np.uint8
    assert rendering.thumbnail(Image.fromarray(photo[:20, :10]), 112).shape == (20, 10, 3)


def test_boxed_enlarges_a_real_digit_sharply_and_centres_it_on_grey(data_dir):
    digit = load_split("mnist", train=False, root=data_dir).images[0].numpy().reshape(28, 28)  # uint8
    tile = rendering.boxed(digit, 100)
    assert tile.shape == (100, 100, 3) and tile.dtype == np.uint8
    inner = tile[8:92, 8:92, 0]  # 28 x 3 = 84 px, centred: (100 - 84) / 2 = 8 px of grey on each side
    assert np.array_equal(inner, rendering.upscale(digit, 3))
    assert (tile[:8] == 225).all() and (tile[92:] == 225).all()


def test_boxed_shrinks_a_large_colour_image_into_the_square():
    photo = np.zeros((400, 200, 4), np.uint8)
    photo[..., 0], photo[..., 3] = 255, 255  # opaque red
    tile = rendering.boxed(photo, 100)
    assert tile.shape == (100, 100, 3)
    assert tile[50, 50].tolist() == [255, 0, 0] and tile[50, 5].tolist() == [225, 225, 225]
