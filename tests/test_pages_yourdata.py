"""The /image and /anomaly pages in AppTest: bad files give their sentence, real images a reconstruction."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_images import bad_files

from vae import anomaly
from vae.checkpoint import load_atlas
from vae.images import ImageError, prepare_bytes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(checkpoints_dir, monkeypatch, tmp_path_factory):
    """A fresh AppTest of the real app on the checkpoints under test."""
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(tmp_path_factory.mktemp("runs")))  # no runs
    monkeypatch.chdir(ROOT)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def open_page(at: AppTest, page: str, **state) -> AppTest:
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.file_uploader(key="image_upload").set_value((name, data, mime))
    return at.run()


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def shows_reconstruction(at: AppTest) -> bool:
    return any(m.value == "**Its reconstruction**" for m in at.markdown)


def test_image_page_states_the_upload_limit_from_the_config(app):
    at = open_page(app, "image")
    assert not at.exception
    limit = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert any(f"up to {limit} MB" in c.value for c in at.caption)
    assert not shows_reconstruction(at)
    assert [i.value for i in at.info] and not at.error


@pytest.mark.slow
def test_every_bad_file_gives_its_message_and_no_exception(app):
    at = open_page(app, "image")
    for name, (data, error, note) in bad_files().items():
        at = upload(at, name, data)
        assert not at.exception, (name, at.exception)
        if error is not None:
            with pytest.raises(ImageError) as caught:
                prepare_bytes(data, "mnist")
            assert [e.value for e in at.error] == [str(caught.value)], name
            assert error in at.error[0].value and not shows_reconstruction(at)
        else:
            assert not at.error, (name, [e.value for e in at.error])
            assert shows_reconstruction(at), name
            assert any(note in c.value for c in at.caption), (name, [c.value for c in at.caption])
    # after all that, the page still serves a good image
    at = upload(at, "square.png", png(np.pad(np.full((40, 40), 255, np.uint8), 30)))
    assert not at.exception and not at.error and shows_reconstruction(at)


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "kind", "z"), [("mnist", "vae", 2), ("fashion-mnist", "ae", 16)])
def test_a_real_test_image_gets_a_reconstruction_and_a_verdict(app, data_dir, checkpoints_dir, dataset, kind, z):
    from vae.data import load_split

    at = open_page(app, "image", picker_model=f"{dataset}-{kind}-z{z}")
    image = load_split(dataset, False, data_dir).images.numpy()[0]
    scan = Image.fromarray(255 - image).resize((280, 280), Image.Resampling.LANCZOS)  # dark ink on paper
    buf = io.BytesIO()
    scan.convert("RGB").save(buf, format="JPEG", quality=95)
    at = upload(at, "scan.jpg", buf.getvalue(), "image/jpeg")
    assert not at.exception and not at.error
    assert shows_reconstruction(at)
    verdicts = [*at.success, *at.warning]
    assert len(verdicts) == 1 and "threshold" in verdicts[0].value and "99th percentile" in verdicts[0].value
    labels = [m.label for m in at.metric]
    assert any(anomaly.SCORE_NAMES["corrected"] in label for label in labels)
    assert (
        sum(
            c.value.startswith(
                ("Sandal", "Ankle", "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Shirt", "Sneaker", "Bag")
            )
            or c.value[:1].isdigit()
            for c in at.caption
        )
        >= 8
    )
    assert any("1σ and 2σ" in c.value for c in at.caption) == (kind == "vae")


def test_camera_photo_is_read_like_an_upload(app):
    at = open_page(app, "image", image_source="camera")
    buf = io.BytesIO()
    Image.fromarray(np.pad(np.zeros((60, 30), np.uint8), 50, constant_values=255)).convert("RGB").save(buf, "JPEG")
    at.camera_input[0].set_value(("shot.jpg", buf.getvalue(), "image/jpeg"))
    at.run()
    assert not at.exception and not at.error and shows_reconstruction(at)


def test_anomaly_page_works_without_the_datasets(app, monkeypatch, tmp_path, checkpoints_dir):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))  # nothing on disk
    at = open_page(app, "anomaly", picker_model="fashion-mnist-vae-z2")
    assert not at.exception and not at.error
    atlas = load_atlas(checkpoints_dir / "fashion-mnist-vae-z2")
    inliers, outliers = anomaly.split_scores(atlas, "corrected")
    slider = at.slider[0]
    assert slider.value == pytest.approx(anomaly.threshold_at(inliers), rel=1e-6)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["AUROC"] == f"{anomaly.auroc(inliers, outliers):.3f}"
    assert metrics["False alarms (Fashion-MNIST)"] == f"{anomaly.flagged_rate(inliers, slider.value):.1%}"
    assert metrics["Detected (MNIST)"] == f"{anomaly.flagged_rate(outliers, slider.value):.1%}"
    likelihood = anomaly.auroc(*anomaly.split_scores(atlas, "neg_elbo"))
    assert len(at.warning) == (1 if likelihood < 0.5 else 0)  # the known failure is shown where it happens

    # a lower threshold flags more of both, and the image page then uses it
    at.slider[0].set_value(float(np.percentile(inliers, 50))).run()
    moved = {m.label: m.value for m in at.metric}
    assert moved["False alarms (Fashion-MNIST)"] == "50.0%" and moved["Detected (MNIST)"] != metrics["Detected (MNIST)"]
    at.switch_page("pages/image.py").run()
    at = upload(at, "square.png", png(np.pad(np.full((40, 20), 255, np.uint8), 30)))
    assert not at.exception
    assert "set on the Anomaly detection page" in [*at.success, *at.warning][0].value


@pytest.mark.parametrize("score", ["mse", "bce", "neg_elbo", "corrected"])
def test_every_score_draws_with_its_own_auroc(app, checkpoints_dir, score):
    at = open_page(app, "anomaly", picker_model="mnist-vae-z2", anomaly_score=score)
    assert not at.exception and not at.error
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z2")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["AUROC"] == f"{anomaly.auroc(*anomaly.split_scores(atlas, score)):.3f}"


def test_a_bad_file_is_read_once_and_its_sentence_kept_across_reruns(app, monkeypatch):
    from vae import images

    reads = []
    real = images.prepare_bytes
    monkeypatch.setattr(images, "prepare_bytes", lambda *args: reads.append(args[0]) or real(*args))
    at = open_page(app, "image")
    at = upload(at, "broken.png", b"\x89PNG\r\n\x1a\n broken")
    first = [e.value for e in at.error]
    at = at.run()
    at = at.run()
    assert [e.value for e in at.error] == first and len(first) == 1
    assert len(reads) == 1


@pytest.mark.parametrize(
    "sent, message",
    [
        ("data:image/png;base64," + "A" * 2_000_001, "more than the pad ever sends"),
        ("data:image/png;base64,not*base64!", "is not a PNG in base64"),
    ],
)
def test_a_drawing_too_large_or_not_base64_is_one_sentence(app, monkeypatch, sent, message):
    import pages.draw_pad

    monkeypatch.setattr(pages.draw_pad, "_draw_pad", lambda **kwargs: sent)
    at = open_page(app, "image", image_source="draw")
    assert not at.exception, at.exception
    [error] = [e.value for e in at.error]
    assert message in error and "\n" not in error
