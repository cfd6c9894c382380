"""Faults: training killed with SIGKILL, broken checkpoint folders (CLIs and app), checkpoints crafted to run code.

The library-level checks of broken files are in test_checkpoint.py; these cover what a user meets: the
training process dying, the command-line tools, and the running app.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pages.ui.picker import PICK_DATASET
from vae.checkpoint import ATLAS, CARD, TRAIN_STATE, WEIGHTS, load_model, read_card
from vae.zoo import SHIPPED

ROOT = Path(__file__).resolve().parents[1]

# --- training killed mid-epoch -------------------------------------------------------------------------------

# A small real-data run in a child process: the first 2,048 MNIST training images, 512 test images, a tiny MLP
# VAE, 4 epochs of 16 batches. Modes: "full" (uninterrupted; keeps a copy of the epoch-2 weights), "stall"
# (announces itself in the middle of epoch 3, then waits to be killed), "stall-save" (announces itself while
# writing the epoch-3 card, after the weights), "resume" (continues with resume=True).
CHILD = r"""
import os, shutil, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import vae.checkpoint
from vae.data import Split, load_split
from vae.models import ModelConfig
from vae.train import TrainConfig, train

out, mode, data_dir = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
full_train, full_test = load_split("mnist", True, data_dir), load_split("mnist", False, data_dir)
BATCHES = 16

class Stalling(Split):
    calls = 0
    def as_float(self, index=slice(None), device=None):
        Stalling.calls += 1
        if mode == "stall" and Stalling.calls == 2 * BATCHES + 5:  # epoch 3, batch 5
            print("MID-EPOCH", flush=True)
            sys.stdin.readline()  # blocks until the parent kills us
        return super().as_float(index, device)

if mode == "stall-save":
    replace = os.replace
    def stalling_replace(src, dst):
        if Path(dst).name == "card.json" and '"epochs_done": 3' in Path(src).read_text():
            print("MID-SAVE", flush=True)
            sys.stdin.readline()
        return replace(src, dst)
    vae.checkpoint.os.replace = stalling_replace

train_split = Stalling(full_train.images[: BATCHES * 128].clone(), full_train.labels[: BATCHES * 128].clone())
test_split = Split(full_test.images[:512].clone(), full_test.labels[:512].clone())
config = TrainConfig(dataset="mnist", model=ModelConfig(kind="vae", arch="mlp", latent_dim=4, hidden=(64, 32)),
                     epochs=4, batch_size=128, lr=2e-3, seed=3)

def keep_epoch_2(epoch, loss):
    if mode == "full" and epoch == 2:
        shutil.copy(out / "model.safetensors", out.parent / "epoch2.safetensors")

card = train(config, out, resume=(mode == "resume"), data=(train_split, test_split), iwae_k=20, progress=False,
             on_epoch=keep_epoch_2)
print("DONE", flush=True)
"""

# Resume is exact by design (epoch-local seeds, full optimizer state): the final metrics of a resumed run must
# equal the uninterrupted run's to float32 round-off (1e-4 nats; the mean over 512 images of ~100-nat values).
METRIC_TOLERANCE = 1e-4


def _child(out: Path, mode: str, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), mode, str(data_dir)], cwd=ROOT, env=env, text=True, **pipes
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{err[-3000:]}"
    assert "DONE" in out
    return out


def _kill_when(proc: subprocess.Popen, signal_line: str, timeout: float = 300) -> None:
    """Wait for the child to announce `signal_line`, then SIGKILL it (it is blocked right there)."""
    line = proc.stdout.readline()  # blocks until the child speaks; bounded by the child's own progress
    assert line.strip() == signal_line, f"child said {line!r}; stderr:\n{proc.stderr.read()[-3000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=timeout)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir) -> Path:
    """The reference run: 4 epochs, never interrupted (with a copy of its epoch-2 weights next to it)."""
    out = tmp_path_factory.mktemp("full") / "run"
    _finish(_child(out, "full", data_dir))
    return out


def _same_tensors(a: Path, b: Path) -> bool:
    ta, tb = load_file(str(a)), load_file(str(b))
    return set(ta) == set(tb) and all(torch.equal(ta[k], tb[k]) for k in ta)


def _assert_same_final_run(resumed: Path, uninterrupted: Path) -> None:
    got, want = read_card(resumed), read_card(uninterrupted)
    assert got["training"]["epochs_done"] == want["training"]["epochs_done"] == 4
    assert [h["epoch"] for h in got["history"]] == [1, 2, 3, 4]
    for key, value in want["metrics"].items():
        if isinstance(value, float):
            assert got["metrics"][key] == pytest.approx(value, abs=METRIC_TOLERANCE), key
        else:
            assert got["metrics"][key] == value, key
    assert _same_tensors(resumed / WEIGHTS, uninterrupted / WEIGHTS)


@pytest.mark.slow
def test_sigkill_mid_epoch_leaves_the_last_complete_epoch_and_resume_matches(tmp_path, data_dir, uninterrupted):
    out = tmp_path / "run"
    proc = _child(out, "stall", data_dir)
    _kill_when(proc, "MID-EPOCH")

    # On disk: epoch 2, complete and loadable; its weights are exactly the uninterrupted run's after epoch 2.
    card = read_card(out)
    assert card["training"]["epochs_done"] == 2 and [h["epoch"] for h in card["history"]] == [1, 2]
    model, _ = load_model(out)
    assert model.config.latent_dim == 4
    assert int(load_file(str(out / TRAIN_STATE))["epochs_done"]) == 2
    assert _same_tensors(out / WEIGHTS, uninterrupted.parent / "epoch2.safetensors")
    assert not list(out.glob("*.tmp")), "a half-written file was left behind"

    _finish(_child(out, "resume", data_dir))
    _assert_same_final_run(out, uninterrupted)


@pytest.mark.slow
def test_sigkill_while_saving_an_epoch_then_resume_matches(tmp_path, data_dir, uninterrupted):
    """Killed between writing the epoch-3 weights and its card: the card still describes a loadable epoch, and
    --resume still ends exactly where the uninterrupted run does, with the full history."""
    out = tmp_path / "run"
    proc = _child(out, "stall-save", data_dir)
    _kill_when(proc, "MID-SAVE")
    card = read_card(out)
    assert card["training"]["epochs_done"] == 2
    load_model(out)
    _finish(_child(out, "resume", data_dir))
    _assert_same_final_run(out, uninterrupted)


# --- broken checkpoint folders: the command-line tools -------------------------------------------------------


def corrupt_weights(folder: Path) -> str:
    """Garbage in place of the safetensors header length and header (the file keeps its size)."""
    path = folder / WEIGHTS
    data = bytearray(path.read_bytes())
    data[:64] = b"\xff" * 8 + b"{not a header" + b"\x00" * 43
    path.write_bytes(bytes(data))
    return WEIGHTS


def mismatched_card(folder: Path) -> str:
    """A card.json that describes another latent size than the weights hold."""
    card = json.loads((folder / CARD).read_text())
    card["model"]["latent_dim"] = 16 if card["model"]["latent_dim"] != 16 else 2
    (folder / CARD).write_text(json.dumps(card))
    return CARD


def missing_atlas(folder: Path) -> str:
    (folder / ATLAS).unlink()
    return ATLAS


BREAKAGES = {
    "corrupt weights": corrupt_weights,
    "card that does not match": mismatched_card,
    "missing atlas": missing_atlas,
}


def copy_checkpoint(src: Path, dst: Path) -> Path:
    """A private copy of a checkpoint folder (without the training state, which the app never reads)."""
    dst.mkdir(parents=True)
    for name in (WEIGHTS, CARD, ATLAS):
        shutil.copy(src / name, dst / name)
    return dst


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _assert_one_clear_line(result: subprocess.CompletedProcess, names: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("breakage", BREAKAGES)
def test_clis_name_the_broken_file_in_one_line(tmp_path, checkpoints_dir, breakage):
    folder = copy_checkpoint(checkpoints_dir / "mnist-vae-z2", tmp_path / "mnist-vae-z2")
    broken = BREAKAGES[breakage](folder)
    anomaly = _cli("vae.anomaly", str(folder))
    _assert_one_clear_line(anomaly, broken)
    evaluate = _cli("vae.evaluate", str(folder), "--iwae-k", "0", "--json")
    if broken == ATLAS:  # evaluating needs only the weights and the card: it keeps working
        assert evaluate.returncode == 0, evaluate.stderr
        assert json.loads(evaluate.stdout)["neg_elbo"] > 0
    else:
        _assert_one_clear_line(evaluate, broken)


# --- broken checkpoint folders: the app ----------------------------------------------------------------------

APP_PAGES = re.findall(r'st\.Page\("(pages/\w+\.py)"', (ROOT / "app.py").read_text())
BROKEN = "mnist-vae-z2"  # the model the sidebar starts on
MODEL_PAGES = [p for p in APP_PAGES if p != "pages/train.py"]  # the training page opens no model
HEALTHY = {"dataset": "fashion-mnist"}  # the same type and latent size, the other dataset


@pytest.fixture
def shelf_with_one_broken(tmp_path, checkpoints_dir):
    """A checkpoints folder holding copies of all eight models (the test then breaks BROKEN)."""
    shelf = tmp_path / "checkpoints"
    for name in SHIPPED:
        copy_checkpoint(checkpoints_dir / name, shelf / name)
    return shelf


def _app(shelf: Path, page: str, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_CHECKPOINTS", str(shelf))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(page)
    return at.run()


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _problems(at) -> list[str]:
    """The one-line problems the app shows: its errors and the lines of the sidebar's "Can't open" list."""
    listed = [line for exp in at.sidebar.expander for md in exp.markdown for line in md.value.splitlines()]
    return _errors(at) + listed


@pytest.mark.slow
@pytest.mark.parametrize("breakage", BREAKAGES)
def test_app_names_the_broken_model_and_keeps_the_others(shelf_with_one_broken, breakage, monkeypatch):
    shelf = shelf_with_one_broken
    broken_file = BREAKAGES[breakage](shelf / BROKEN)
    for page in MODEL_PAGES:
        at = _app(shelf, page, monkeypatch)
        assert not at.exception, f"{page}: {at.exception[0].value}"
        named = [e for e in _problems(at) if BROKEN in e]
        assert named, f"{page} does not name the broken model; problems shown: {_problems(at)}"
        assert any(broken_file in e for e in named), f"{page}: the error does not name {broken_file}: {named}"
        assert all(len(e.splitlines()) == 1 for e in named), named

        at.selectbox(key=PICK_DATASET).set_value(HEALTHY["dataset"]).run()  # the others stay usable
        assert not at.exception, f"{page} after switching: {at.exception[0].value}"
        others = [e for e in _errors(at) if BROKEN not in e]
        assert not others, f"{page} with a healthy model shows errors: {others}"
    at = _app(shelf, "pages/map.py", monkeypatch)
    at.selectbox(key=PICK_DATASET).set_value(HEALTHY["dataset"]).run()
    assert not at.exception and not _errors(at), _errors(at)
    assert at.get("component_instance"), "the map of a healthy model is not drawn"


# --- checkpoints crafted to run code when unpickled ----------------------------------------------------------


class Exploit:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled_weights(folder: Path, marker: Path) -> None:
    (folder / WEIGHTS).write_bytes(pickle.dumps(Exploit(marker)))


def torch_saved_weights(folder: Path, marker: Path) -> None:
    """A torch.save zip archive whose data.pkl runs code, named like the weights (what `torch.load` would run)."""
    with zipfile.ZipFile(folder / WEIGHTS, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Exploit(marker)))
        z.writestr("archive/version", "3\n")


def pickled_atlas(folder: Path, marker: Path) -> None:
    """An atlas.npz whose 'mu' is a pickled object array (np.load with allow_pickle=True would run it)."""
    with open(folder / ATLAS, "wb") as f:
        np.savez(f, mu=np.array([Exploit(marker)], dtype=object), labels=np.zeros(1, np.uint8))


def pickled_train_state(folder: Path, marker: Path) -> None:
    (folder / TRAIN_STATE).write_bytes(pickle.dumps(Exploit(marker)))


CRAFTED = {
    "pickle as weights": pickled_weights,
    "torch.save archive as weights": torch_saved_weights,
    "pickled atlas": pickled_atlas,
}


@pytest.mark.slow
@pytest.mark.parametrize("craft", CRAFTED)
def test_crafted_checkpoint_never_runs_code_in_the_clis(tmp_path, checkpoints_dir, craft):
    folder = copy_checkpoint(checkpoints_dir / "mnist-vae-z2", tmp_path / "mnist-vae-z2")
    marker = tmp_path / "pwned"
    CRAFTED[craft](folder, marker)
    if craft == "pickled atlas":  # only vae.anomaly reads an atlas
        commands = [("vae.anomaly",)]
    else:
        commands = [("vae.anomaly",), ("vae.evaluate", "--iwae-k", "0"), ("vae.atlas",)]
    for module, *args in commands:
        _assert_one_clear_line(_cli(module, str(folder), *args), ATLAS if craft == "pickled atlas" else WEIGHTS)
        assert not marker.exists(), f"{module} ran the crafted file"


@pytest.mark.slow
def test_crafted_train_state_never_runs_code_on_resume(tmp_path, checkpoints_dir, data_dir):
    folder = copy_checkpoint(checkpoints_dir / "mnist-vae-z2", tmp_path / "run")
    marker = tmp_path / "pwned"
    pickled_train_state(folder, marker)
    card = read_card(folder)
    result = _cli(
        "vae.train",
        "--dataset",
        "mnist",
        "--model",
        "vae",
        "--latent-dim",
        "2",
        "--arch",
        card["model"]["arch"],
        "--out",
        str(folder),
        "--resume",
        "--data-dir",
        str(data_dir),
        "--quiet",
    )
    _assert_one_clear_line(result, TRAIN_STATE)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("craft", ["pickle as weights", "pickled atlas"])
def test_crafted_checkpoint_never_runs_code_in_the_app(shelf_with_one_broken, tmp_path, craft, monkeypatch):
    marker = tmp_path / "pwned"
    CRAFTED[craft](shelf_with_one_broken / BROKEN, marker)
    for page in APP_PAGES:
        at = _app(shelf_with_one_broken, page, monkeypatch)
        assert not at.exception, f"{page}: {at.exception[0].value}"
        assert any(BROKEN in e for e in _problems(at)), f"{page}: {_problems(at)}"
    assert not marker.exists()


def test_no_code_path_unpickles():
    """Nothing the app or the CLIs run can unpickle: no torch.load, pickle, or numpy allow_pickle=True."""
    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|allow_pickle\s*=\s*True|joblib\.load|dill\.|cloudpickle")
    sources = [ROOT / "app.py", *sorted((ROOT / "vae").glob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in sources
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if unsafe.search(line)
    ]
    assert not found, f"unpickling code paths: {found}"
    np_loads = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in sources
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "np.load(" in line and "allow_pickle=False" not in line
    ]
    assert not np_loads, f"np.load without allow_pickle=False: {np_loads}"
