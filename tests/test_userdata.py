"""Your own data: a dataset the tests draw themselves (squares, discs and bars, white on black), as an .npz file and
as an IDX folder; every bad file gives its one sentence; the command line trains on it; the pages show it."""

from __future__ import annotations

import base64
import gzip
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from pages.map_chart import _ROOT
from vae.checkpoint import load_atlas, load_model, read_card
from vae.cli import anomaly as anomaly_cli
from vae.cli import evaluate as evaluate_cli
from vae.cli import train as train_cli
from vae.data import (
    DatasetFormatError,
    DatasetMissingError,
    DatasetSpec,
    dataset_of,
    ood_partner,
    resolve_dataset,
)
from vae.devices import resolve_device

APP = Path(__file__).resolve().parents[1] / "app.py"
SHAPES = ("square", "disc", "bar")
SMALL_RUN = ["--epochs", "1", "--hidden", "64", "32", "--iwae-k", "0", "--quiet"]


def draw_shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images uint8 (n, 28, 28) of squares, discs and bars (labels 0, 1, 2) of random sizes and places."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    yy, xx = np.mgrid[:28, :28]
    for image, label in zip(images, labels, strict=True):
        size = int(rng.integers(6, 13))
        cy, cx = rng.integers(size // 2 + 2, 28 - size // 2 - 2, 2)
        if label == 0:
            ink = (abs(yy - cy) <= size // 2) & (abs(xx - cx) <= size // 2)
        elif label == 1:
            ink = (yy - cy) ** 2 + (xx - cx) ** 2 <= (size / 2) ** 2
        else:
            ink = (abs(yy - cy) <= 1) & (abs(xx - cx) <= size)
        image[ink] = 255
    return images, labels


def shape_arrays() -> dict[str, np.ndarray]:
    (x_train, y_train), (x_test, y_test) = draw_shapes(300, 0), draw_shapes(100, 1)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes (gzipped when the name ends in .gz), as the MNIST files are written."""
    data = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """shapes.npz: 300 training and 100 test images, labelled, with class_names."""
    path = tmp_path_factory.mktemp("own") / "shapes.npz"
    np.savez_compressed(path, **shape_arrays(), class_names=np.array(SHAPES))
    return path


@pytest.fixture(scope="module")
def strokes(tmp_path_factory) -> Path:
    """The same images as an IDX folder 'strokes': the training files gzipped, the test files not; no class names."""
    folder = tmp_path_factory.mktemp("own") / "strokes"
    folder.mkdir()
    arrays = shape_arrays()
    write_idx(folder / "train-images-idx3-ubyte.gz", arrays["x_train"])
    write_idx(folder / "train-labels-idx1-ubyte.gz", arrays["y_train"])
    write_idx(folder / "t10k-images-idx3-ubyte", arrays["x_test"])
    write_idx(folder / "t10k-labels-idx1-ubyte", arrays["y_test"])
    return folder


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> Path:
    """blobs.npz: the images without any labels."""
    path = tmp_path_factory.mktemp("own") / "blobs.npz"
    arrays = shape_arrays()
    np.savez(path, x_train=arrays["x_train"], x_test=arrays["x_test"])
    return path


# --- Reading it -------------------------------------------------------------------------------------------------


def test_an_npz_file_is_a_dataset_named_after_it_with_its_class_names(shapes):
    spec = resolve_dataset(shapes)
    assert spec == DatasetSpec("shapes", SHAPES, labelled=True, source=shapes.resolve())
    assert spec.title == "shapes"
    train, test = spec.split(True), spec.split(False)
    assert train.images.shape == (300, 28, 28) and train.images.dtype == torch.uint8 and len(test) == 100
    assert torch.equal(test.labels, torch.from_numpy(shape_arrays()["y_test"].astype(np.int64)))
    assert dataset_of({"dataset": spec.name, "data": spec.card_entry()}) == spec  # what a card records, read back


def test_an_idx_folder_plain_or_gzipped_holds_the_same_images_with_numbered_classes(strokes, shapes):
    spec = resolve_dataset(strokes)
    assert (spec.name, spec.class_names, spec.labelled) == ("strokes", ("0", "1", "2"), True)
    for train in (True, False):
        ours, npz = spec.split(train), resolve_dataset(shapes).split(train)
        assert torch.equal(ours.images, npz.images) and torch.equal(ours.labels, npz.labels)


def test_unlabelled_data_is_one_class_named_after_the_dataset(blobs):
    spec = resolve_dataset(blobs)
    assert (spec.name, spec.class_names, spec.labelled) == ("blobs", ("blobs",), False)
    test = spec.split(False)
    assert len(test) == 100 and int(test.labels.abs().sum()) == 0


def test_a_file_named_like_a_built_in_dataset_keeps_a_name_of_its_own(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=draw_shapes(10, 0)[0], x_test=draw_shapes(5, 1)[0])
    spec = resolve_dataset(tmp_path / "mnist.npz")
    assert spec.name == "mnist-own" and spec.source is not None


def test_the_built_in_datasets_resolve_by_name_without_reading_anything(tmp_path):
    spec = resolve_dataset("fashion-mnist")
    assert spec.source is None and spec.title == "Fashion-MNIST" and spec.class_names[9] == "Ankle boot"
    assert ood_partner(spec, tmp_path) == "mnist"  # required for the built-in ones, on disk or not


def test_own_data_is_compared_with_mnist_or_fashion_mnist_only_where_one_is_on_disk(shapes, data_dir, tmp_path):
    spec = resolve_dataset(shapes)
    assert ood_partner(spec, data_dir) == "mnist"
    assert ood_partner(spec, tmp_path) is None


class Trap:
    """Unpickling this writes a file: if the file appears, something unpickled the dataset."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _bad(tmp_path: Path, **changes) -> Path:
    arrays = {**shape_arrays(), **changes}
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


BAD_FILES = {
    "wrong shape": (
        lambda t: _bad(t, x_train=np.zeros((50, 32, 32), np.uint8)),
        "x_train in {path} has shape (50, 32, 32), but images must be N×28×28.",
    ),
    "NaN": (
        lambda t: _bad(t, x_train=np.full((300, 28, 28), np.nan, np.float32)),
        "x_train in {path} holds NaN values",
    ),
    "float pixels": (
        lambda t: _bad(t, x_test=np.zeros((100, 28, 28), np.float32)),
        "x_test in {path} is float32, but images must be uint8",
    ),
    "empty split": (lambda t: _bad(t, x_test=np.zeros((0, 28, 28), np.uint8)), "x_test in {path} holds no images"),
    "no test split": (lambda t: _bad(t, x_test=None), "{path} has no x_test; an .npz dataset holds x_train and x_test"),
    "labels mismatch": (
        lambda t: _bad(t, y_train=np.zeros(299, np.uint8)),
        "y_train in {path} has shape (299,), but there is one label per image: (300,).",
    ),
    "float labels": (
        lambda t: _bad(t, y_test=np.zeros(100, np.float64)),
        "y_test in {path} is float64, but labels must be whole numbers",
    ),
    "labels on one split": (lambda t: _bad(t, y_test=None), "{path} has y_train but no y_test"),
    "too few class names": (
        lambda t: _bad(t, class_names=np.array(["square", "disc"])),
        "class_names in {path} names 2 classes, but the labels go up to 2 (3 classes).",
    ),
    "numbers as class names": (lambda t: _bad(t, class_names=np.arange(3)), "must be a 1-D array of strings"),
    "class names without labels": (
        lambda t: _bad(t, y_train=None, y_test=None, class_names=np.array(SHAPES)),
        "{path} has class_names but no labels",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_each_bad_npz_file_is_one_sentence_and_the_cli_stops_before_training(case, tmp_path, monkeypatch, capsys):
    make, expected = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(DatasetFormatError) as err:
        resolve_dataset(path)
    message = str(err.value)
    assert expected.format(path=path.resolve()) in message and "\n" not in message, message
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "runs"))
    assert train_cli.main(["--dataset", str(path), *SMALL_RUN]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"error: {message}"
    assert not (tmp_path / "runs").exists()


def test_an_object_array_is_refused_and_never_unpickled(tmp_path):
    Trap.marker = tmp_path / "unpickled"
    path = tmp_path / "objects.npz"
    np.savez(path, **shape_arrays(), class_names=np.array([Trap(), "disc", "bar"], dtype=object))
    with pytest.raises(DatasetFormatError, match=r"holds Python objects \(an object array\), which are never loaded"):
        resolve_dataset(path)
    assert not Trap.marker.exists()


def test_a_pickle_named_npz_is_refused_and_never_unpickled(tmp_path):
    Trap.marker = tmp_path / "unpickled"
    path = tmp_path / "pickled.npz"
    path.write_bytes(pickle.dumps({"x_train": Trap()}))
    with pytest.raises(DatasetFormatError, match="holds pickled Python objects, which are never loaded"):
        resolve_dataset(path)
    assert not Trap.marker.exists()


def test_a_truncated_idx_file_is_one_sentence(strokes, tmp_path):
    folder = tmp_path / "cut"
    folder.mkdir()
    for f in strokes.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "t10k-images-idx3-ubyte").write_bytes((strokes / "t10k-images-idx3-ubyte").read_bytes()[:5000])
    with pytest.raises(DatasetFormatError, match="truncated or padded") as err:
        resolve_dataset(folder)
    assert "\n" not in str(err.value)


def test_nothing_at_the_path_is_one_sentence(tmp_path, capsys):
    with pytest.raises(DatasetMissingError, match="there is no dataset"):
        resolve_dataset(tmp_path / "nope.npz")
    assert train_cli.main(["--dataset", str(tmp_path / "nope.npz"), *SMALL_RUN]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: there is no dataset") and "nope.npz" in line


# --- Training on it ---------------------------------------------------------------------------------------------


def _one_run(runs: Path) -> Path:
    [run] = [p for p in runs.iterdir() if p.is_dir()]
    return run


def test_the_cli_trains_on_an_npz_file_and_the_run_names_its_data(shapes, data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "runs"))
    assert train_cli.main(["--dataset", str(shapes), *SMALL_RUN, "--data-dir", str(data_dir)]) == 0
    run = _one_run(tmp_path / "runs")
    assert run.name.startswith("shapes-vae-z2-h64x32-e1-")
    card = read_card(run)
    assert card["dataset"] == "shapes"
    assert card["data"] == {"source": str(shapes.resolve()), "class_names": list(SHAPES), "labelled": True}
    assert card["training"]["dataset"] == str(shapes.resolve()) and card["training"]["device"] == resolve_device().type
    atlas = load_atlas(run)
    assert atlas["mu"].shape == (100, 2) and np.array_equal(atlas["labels"], shape_arrays()["y_test"])
    assert str(atlas["ood_dataset"]) == "mnist" and atlas["ood_mu"].shape == (10_000, 2)  # MNIST is on disk
    capsys.readouterr()
    assert evaluate_cli.main([str(run), "--iwae-k", "0", "--json"]) == 0  # reads the test split from the file
    assert json.loads(capsys.readouterr().out)["bce"] == pytest.approx(card["metrics"]["bce"], rel=1e-4)
    assert anomaly_cli.main([str(run)]) == 0
    assert "AUROC of its shapes test split against the MNIST test split" in capsys.readouterr().out


@pytest.mark.parametrize("which", ["strokes", "blobs"])
def test_without_mnist_on_disk_a_run_on_own_data_has_an_atlas_without_another_dataset(
    which, request, tmp_path, monkeypatch, capsys
):
    source = request.getfixturevalue(which)
    spec = resolve_dataset(source)
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "runs"))
    (tmp_path / "empty").mkdir()
    assert train_cli.main(["--dataset", str(source), *SMALL_RUN, "--data-dir", str(tmp_path / "empty")]) == 0
    assert "Neither MNIST nor Fashion-MNIST is on disk" in capsys.readouterr().out
    run = _one_run(tmp_path / "runs")
    card = read_card(run)
    assert (card["dataset"], tuple(card["data"]["class_names"]), card["data"]["labelled"]) == (
        spec.name,
        spec.class_names,
        spec.labelled,
    )
    atlas = load_atlas(run)
    assert atlas["mu"].shape == (100, 2) and not [k for k in atlas if k.startswith("ood_")]
    assert anomaly_cli.main([str(run)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "scores no other dataset" in line and "python -m vae.atlas" in line
    model, _ = load_model(run, device="cpu")
    assert next(model.parameters()).device.type == "cpu"


# --- The pages ----------------------------------------------------------------------------------------------------


def run_without_other_data(source: Path, tmp_path_factory) -> Path:
    """A run on `source` made where neither MNIST nor Fashion-MNIST is on disk: its atlas has no other dataset."""
    runs, empty = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("nodata")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_RUNS", str(runs))
        assert train_cli.main(["--dataset", str(source), *SMALL_RUN, "--data-dir", str(empty)]) == 0
    return _one_run(runs)


@pytest.fixture(scope="module")
def shapes_run(shapes, tmp_path_factory) -> Path:
    return run_without_other_data(shapes, tmp_path_factory)


def plotly_array(value: list | dict) -> np.ndarray:
    """An array of a figure's JSON: a list, or Plotly's typed array {"dtype": ..., "bdata": base64}."""
    if isinstance(value, list):
        return np.asarray(value)
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])


def open_run(page: str, run: Path, monkeypatch, checkpoints_dir, data: Path) -> AppTest:
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(run.parent))
    monkeypatch.setenv("VAE_DATA_DIR", str(data))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["model"] = run.name
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    assert at.query_params["model"] == run.name and not at.warning, [w.value for w in at.warning]
    return at


def test_the_map_of_a_model_of_own_data_shows_its_class_names(shapes_run, monkeypatch, checkpoints_dir, tmp_path):
    at = open_run("map", shapes_run, monkeypatch, checkpoints_dir, tmp_path)
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    figure = json.loads((_ROOT / json.loads(chart.proto.json_args)["figure"]).read_text())
    traces = [t for t in figure["data"] if t.get("name") in SHAPES]
    assert [t["name"] for t in traces] == list(SHAPES)
    assert sum(len(plotly_array(t["customdata"])) for t in traces) == 100  # every test image, in its class


def test_the_anomaly_page_says_in_one_line_that_there_is_no_other_dataset(
    shapes_run, monkeypatch, checkpoints_dir, tmp_path
):
    at = open_run("anomaly", shapes_run, monkeypatch, checkpoints_dir, tmp_path)
    assert [i.value for i in at.info][0] == "No other dataset on disk to compare with, so there is no detection rate."
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Threshold", "False alarms (shapes)"] and not any("Detected" in label for label in labels)
    histogram = json.loads(at.get("plotly_chart")[0].proto.spec)  # no ROC curve beside it
    assert [t["name"] for t in histogram["data"]] == ["shapes test (own)"]


def test_an_unlabelled_model_is_drawn_in_one_colour(blobs, tmp_path_factory, monkeypatch, checkpoints_dir, tmp_path):
    at = open_run("map", run_without_other_data(blobs, tmp_path_factory), monkeypatch, checkpoints_dir, tmp_path)
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    figure = json.loads((_ROOT / json.loads(chart.proto.json_args)["figure"]).read_text())
    [trace] = [t for t in figure["data"] if t.get("customdata") is not None]
    assert trace["name"] == "blobs" and len(plotly_array(trace["customdata"])) == 100


def test_the_image_page_judges_an_upload_against_own_data(shapes_run, monkeypatch, checkpoints_dir, tmp_path):
    at = open_run("image", shapes_run, monkeypatch, checkpoints_dir, tmp_path)
    assert any("an image like those of shapes" in i.value for i in at.info)
    square = np.zeros((90, 90), np.uint8)
    square[25:65, 25:65] = 255
    buf = io.BytesIO()
    Image.fromarray(square).save(buf, format="PNG")
    at.file_uploader(key="image_upload").set_value(("square.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    verdicts = [v.value for v in (*at.success, *at.warning)]
    assert len(verdicts) == 1 and "the shapes training data" in verdicts[0], verdicts
    neighbours = [c.value for c in at.caption if " · #" in c.value]
    assert len(neighbours) == 8 and all(c.split(" · #")[0] in SHAPES for c in neighbours), neighbours
    assert not any("images are not" in c.value for c in at.caption)  # the originals come from shapes.npz


@pytest.mark.parametrize("page", ["overview", "map", "interpolate", "compare", "image", "anomaly"])
def test_every_page_opens_a_model_of_own_data_without_an_error(
    page, shapes_run, monkeypatch, checkpoints_dir, tmp_path
):
    at = open_run(page, shapes_run, monkeypatch, checkpoints_dir, tmp_path)
    assert not at.error, [e.value for e in at.error]
    text = " ".join(e.value for e in (*at.markdown, *at.caption, *at.info, *at.title, *at.subheader))
    assert "shapes" in text, text


# --- Hostile paths and sizes --------------------------------------------------------------------------------------


def _npz_declaring(path: Path, shape: tuple[int, ...]) -> Path:
    """An .npz file of a few hundred bytes whose x_train header declares a uint8 array of `shape`."""
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", header.getvalue() + bytes(1000))
        archive.writestr("x_test.npy", header.getvalue() + bytes(1000))
    return path


@pytest.mark.timeout(60)
def test_an_npz_file_declaring_more_than_a_dataset_may_hold_is_refused_from_its_headers(tmp_path):
    path = _npz_declaring(tmp_path / "bomb.npz", (2_000_000, 28, 28))
    assert path.stat().st_size < 5000
    with pytest.raises(DatasetFormatError, match=r"would unpack to 2990 MiB, more than the 1024 MiB") as err:
        resolve_dataset(path)
    assert "\n" not in str(err.value)


@pytest.mark.timeout(60)
def test_a_gzipped_idx_file_declaring_more_than_a_dataset_may_hold_is_refused_from_its_header(strokes, tmp_path):
    folder = tmp_path / "huge"
    folder.mkdir()
    for f in strokes.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "train-images-idx3-ubyte").unlink(missing_ok=True)
    head = b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (2_000_000, 28, 28))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + bytes(10_000)))
    with pytest.raises(DatasetFormatError, match=r"declares a \(2000000, 28, 28\) array, more than the 1024 MiB"):
        resolve_dataset(folder)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["a pipe", "a device"])
def test_a_path_that_is_neither_a_file_nor_a_folder_is_refused_without_opening_it(kind, tmp_path):
    import os

    if kind == "a pipe":
        path = tmp_path / "fifo.npz"
        os.mkfifo(path)  # opening it would block until a writer came
    else:
        path = Path("/dev/null")
    with pytest.raises(DatasetFormatError, match="is neither a regular file nor a folder"):
        resolve_dataset(path)


def test_a_file_that_cannot_be_read_is_one_sentence():
    with pytest.raises(DatasetFormatError, match=r"^/proc/\d+/mem could not be read \(Input/output error\)\.$") as err:
        resolve_dataset("/proc/self/mem")
    assert "\n" not in str(err.value)
