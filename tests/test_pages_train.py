"""The training page (/train) through Streamlit's AppTest: shared mode's rules (datasets by name, caps, the quota,
runs owned by their session, training off) and an unwritable runs folder. No test here starts a run."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from pages_helpers import wait_until
from streamlit.testing.v1 import AppTest

from pages.ui import navigation
from tests.test_live import Holder, _lock
from vae import jobs
from vae.live import STOPPED, read_live

APP = Path(__file__).resolve().parents[1] / "app.py"
SESSION = "test session id"  # AppTest's session id: the owner of the runs this page starts


@pytest.fixture
def runs(monkeypatch, checkpoints_dir, data_dir, tmp_path):
    for name in ("VAE_MODE", "VAE_TRAINING", "VAE_MAX_PARAMETERS", "VAE_MAX_EPOCHS", "VAE_RUNS_PER_SESSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "runs"))
    # AppTest marks the pages/ folder as in use before each run, so `inside_app` would rerun every time and drop a
    # click; a server clears the mark once for good (tests/test_pages_share.py covers that).
    monkeypatch.setattr(navigation, "PagesManager", SimpleNamespace(uses_pages_directory=False))
    return tmp_path / "runs"


def open_train() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in at.get(kind)]


def run_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def test_in_shared_mode_datasets_are_chosen_by_name_and_no_path_is_typed(runs, monkeypatch, tmp_path, digits_npz):
    own = tmp_path / "own"
    (own / "letters").mkdir(parents=True)
    shutil.copy(digits_npz, own / "shapes.npz")
    (own / "linked.npz").symlink_to(own / "shapes.npz")  # a link is not offered
    monkeypatch.setenv("VAE_MODE", "shared")
    monkeypatch.setenv("VAE_OWN_DATA", str(own))
    at = open_train()
    dataset = at.selectbox(key="train_dataset")
    assert dataset.options == ["MNIST", "Fashion-MNIST", "letters", "shapes"]
    assert [t.label for t in at.text_input if t.label == "Path of your dataset"] == []
    assert not any(str(runs) in c or str(own) in c for c in texts(at, "caption"))  # no server path shown either
    dataset.set_value("server:shapes").run()
    assert not at.exception and [t.label for t in at.text_input if t.label == "Path of your dataset"] == []
    monkeypatch.setenv("VAE_MODE", "personal")  # today's page: a path field for one's own data
    personal = open_train()
    assert "Your own data (a path)" in personal.selectbox(key="train_dataset").options


def test_a_network_over_the_size_cap_is_refused_in_one_sentence_before_anything_starts(runs, monkeypatch):
    monkeypatch.setenv("VAE_MODE", "shared")
    monkeypatch.setenv("VAE_MAX_PARAMETERS", "1000")
    at = open_train()
    assert any("This server trains networks up to 1,000 weights" in c for c in texts(at, "caption"))
    at.button(key="train_start").click().run()
    weights = jobs.DEFAULTS.model.parameter_count()
    assert texts(at, "warning") == [
        f"This network has {weights:,} weights; this server trains at most 1,000: choose fewer or narrower layers."
    ]
    assert run_folders(runs) == [] and jobs.current_job(runs) is None


def test_a_session_that_used_its_quota_is_refused_in_one_sentence(runs, monkeypatch):
    monkeypatch.setenv("VAE_MODE", "shared")
    monkeypatch.setenv("VAE_RUNS_PER_SESSION", "1")
    (runs / "mine").mkdir(parents=True)
    (runs / "mine" / jobs.OWNER).write_text(json.dumps({"owner": jobs.owner_tag(SESSION)}))
    at = open_train()
    assert any("1 of your 1 runs started" in c for c in texts(at, "caption"))
    at.button(key="train_start").click().run()
    assert texts(at, "warning") == [
        "You have started 1 run, as many as this server allows one visitor; every trained model can still be explored."
    ]
    assert run_folders(runs) == ["mine"]


def test_with_training_off_the_page_says_so_and_has_no_start(runs, monkeypatch):
    monkeypatch.setenv("VAE_MODE", "shared")
    monkeypatch.setenv("VAE_TRAINING", "off")
    at = open_train()
    assert "Training is off on this server; every trained model can still be explored." in texts(at, "info")
    assert [b for b in at.button if b.key == "train_start"] == []


def test_an_unwritable_runs_folder_is_one_sentence_and_start_is_disabled(runs, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("")
    root = tmp_path / "a-file" / "runs"  # mkdir fails here even for root
    monkeypatch.setenv("VAE_RUNS", str(root))
    at = open_train()
    assert texts(at, "warning") == [
        f"The runs folder {root} cannot be written (Not a directory), so no run can be started here."
    ]
    assert at.button(key="train_start").disabled


@pytest.mark.parametrize("mode", ["shared", "personal"])
def test_only_the_session_that_started_a_run_sees_its_stop_in_shared_mode(runs, monkeypatch, mode):
    monkeypatch.setenv("VAE_MODE", mode)
    holder = Holder(runs, runs / "someone-elses-run")
    try:
        pid = holder.proc.pid
        _lock(
            runs,
            pid,
            runs / "someone-elses-run",
            process_start=jobs.process_start(pid),
            host=socket.gethostname(),
            owner=jobs.owner_tag("another session"),
        )
        at = open_train()
        assert any(h.value == "#### Training someone-elses-run" for h in at.markdown)
        stops = [b for b in at.button if b.key == "train_stop"]
        watch = "Another visitor started this run: you can watch it, and only they can stop it."
        if mode == "shared":
            assert stops == [] and watch in texts(at, "caption")
        else:
            assert len(stops) == 1 and watch not in texts(at, "caption")
        assert holder.proc.poll() is None
    finally:
        holder.release()


@pytest.mark.slow
def test_a_shared_run_on_a_dataset_chosen_by_name_belongs_to_its_session_which_can_stop_it(
    runs, monkeypatch, tmp_path, digits_npz
):
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(digits_npz, own / "shapes.npz")
    monkeypatch.setenv("VAE_MODE", "shared")
    monkeypatch.setenv("VAE_OWN_DATA", str(own))
    at = open_train()
    at.selectbox(key="train_dataset").set_value("server:shapes").run()
    at.button(key="train_start").click().run()
    assert not at.exception and texts(at, "warning") == [] and texts(at, "error") == []
    job = jobs.current_job(runs)
    try:
        assert job.owner == jobs.owner_tag(SESSION) == jobs.run_owner(job.folder)
        assert json.loads((job.folder / "config.json").read_text())["dataset"] == str((own / "shapes.npz").resolve())
        wait_until(lambda: (live := read_live(job.folder)) is not None and live.epoch >= 1)
        at.run()
        at.button(key="train_stop").click().run()
        wait_until(lambda: not jobs.current_job(runs).alive)
        assert read_live(job.folder).state == STOPPED
    finally:
        jobs.stop(runs)
        wait_until(lambda: not jobs.current_job(runs).alive)
