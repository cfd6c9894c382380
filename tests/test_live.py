"""The live files of a watched run (vae.live) and the one-run-at-a-time supervisor (vae.jobs), on real data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from pages_helpers import wait_until

from vae import jobs
from vae.checkpoint import ATLAS, CARD, TRAIN_STATE, read_card
from vae.cli import train as train_cli
from vae.data import CLASS_NAMES, Split, load_split
from vae.live import (
    DONE,
    FAILED,
    LIVE,
    STOP,
    STOPPED,
    TRAINING,
    LiveWriter,
    Throttle,
    map_subset,
    project_2d,
    read_live,
    read_live_map,
)
from vae.models import ConfigError, ModelConfig, build_model
from vae.runs import CONFIG
from vae.serving import ServerPolicy, server_policy
from vae.train import TrainConfig, TrainingDiverged, start_run, train_epoch

SMALL = TrainConfig(model=ModelConfig(hidden=(32,)), epochs=2, batch_size=100)


@pytest.fixture(scope="module")
def mnist_test(data_dir) -> Split:
    return load_split("mnist", False, data_dir)


def _writer(folder: Path, test: Split, config: TrainConfig = SMALL) -> LiveWriter:
    return LiveWriter(folder, test, config, CLASS_NAMES["mnist"], watch_parent=False)


def _steps(writer: LiveWriter, model, n: int) -> None:
    for i in range(n):
        writer.step(model, torch.tensor(200.0 - i), torch.tensor(1.0 + i / 100))


def test_the_live_files_round_trip(tmp_path, mnist_test):
    model = build_model(SMALL.model)
    with _writer(tmp_path, mnist_test) as writer:
        writer.begin(model, 0, n_batches=50)
        _steps(writer, model, 50)
        writer.epoch_done(model, 1)
        live = read_live(tmp_path)
        assert (live.state, live.epoch, live.epochs, live.step, live.steps) == (TRAINING, 1, 2, 50, 100)
        assert live.eta_s is not None and live.eta_s >= 0 and 0.49 < live.fraction < 0.51
        _steps(writer, model, 50)
        writer.epoch_done(model, 2)  # the last epoch: its map is drawn whenever the one before was
        writer.evaluated({"neg_elbo": 150.0, "recon": 145.0, "kl": 5.0})
    live = read_live(tmp_path)
    assert live.state == DONE and live.metrics["neg_elbo"] == 150.0 and live.eta_s is None
    assert live.class_names == CLASS_NAMES["mnist"] and live.kind == "vae" and live.beta == 1.0
    np.testing.assert_array_equal(live.curve_step, np.arange(10, 101, 10))
    np.testing.assert_allclose(live.recon[:5], [195.5, 185.5, 175.5, 165.5, 155.5])  # means over each stretch
    np.testing.assert_allclose(live.curve_epoch, np.arange(1, 11) / 5)

    shown = read_live_map(tmp_path)
    subset = map_subset(len(mnist_test))
    assert shown.coords.shape == (2000, 2) and shown.coords.dtype == np.float32 and shown.axes == "z"
    np.testing.assert_array_equal(shown.labels, mnist_test.labels[subset].numpy())
    with torch.no_grad():
        expected = model.encode(mnist_test.as_float(torch.from_numpy(subset)))[0].numpy()
    np.testing.assert_allclose(shown.coords, expected, atol=1e-5)
    assert shown.prior.shape == (8, 8, 28, 28) and shown.prior.dtype == np.uint8 and shown.step == 100


def test_beyond_two_dimensions_the_map_shows_principal_components(tmp_path, mnist_test):
    config = replace(SMALL, model=ModelConfig(hidden=(32,), latent_dim=16))
    model = build_model(config.model)
    writer = _writer(tmp_path, mnist_test, config)
    writer.begin(model, 0, n_batches=10)
    shown = read_live_map(tmp_path)
    assert shown.axes == "pca" and shown.coords.shape == (2000, 2)
    codes = np.random.default_rng(1).standard_normal((300, 5)) * [5, 2, 1, 0.1, 0.1]
    projected = project_2d(codes)
    assert projected[:, 0].var() > projected[:, 1].var() > 0.5  # the two widest directions, widest first


def test_a_resumed_run_keeps_the_curve_of_its_complete_epochs(tmp_path, mnist_test):
    model = build_model(SMALL.model)
    first = _writer(tmp_path, mnist_test)
    first.begin(model, 0, n_batches=50)
    _steps(first, model, 80)  # killed in the second epoch, at step 80
    first._write_json()
    second = _writer(tmp_path, mnist_test)
    second.begin(model, 1, n_batches=50)
    live = read_live(tmp_path)
    assert live.curve_step.tolist() == [10, 20, 30, 40, 50] and live.step == 50 and live.first_step == 50


@pytest.mark.parametrize(
    ("error", "state", "message"),
    [
        (KeyboardInterrupt(), STOPPED, None),
        (
            TrainingDiverged("the loss became nan at epoch 1, step 3; lower --lr (or --beta) and train again."),
            FAILED,
            "the loss became nan at epoch 1, step 3; lower --lr (or --beta) and train again.",
        ),
    ],
)
def test_how_a_run_ends_is_recorded(tmp_path, mnist_test, error, state, message):
    model = build_model(SMALL.model)
    with pytest.raises(type(error)), _writer(tmp_path, mnist_test) as writer:
        writer.begin(model, 0, n_batches=50)
        raise error
    live = read_live(tmp_path)
    assert (live.state, live.message) == (state, message)


def test_a_run_refused_before_it_began_leaves_the_folder_live_files_as_they_were(tmp_path, mnist_test):
    (tmp_path / LIVE).write_text('{"old": true}')
    with pytest.raises(RuntimeError), _writer(tmp_path, mnist_test):
        raise RuntimeError("the run in this folder was started with other settings")
    assert json.loads((tmp_path / LIVE).read_text()) == {"old": True}


def test_watching_a_run_changes_nothing_it_learns(tmp_path, mnist_test, data_dir):
    data = load_split("mnist", True, data_dir)
    data = Split(data.images[:1000], data.labels[:1000])
    weights = []
    for observer in (None, _writer(tmp_path, mnist_test)):
        model, optimizer, _ = start_run(SMALL, data)
        if observer is not None:
            observer.map_every_s = observer.json_every_s = 0.0  # draw the map at every step
            observer.begin(model, 0, n_batches=10)
        train_epoch(model, optimizer, data, SMALL, 0, observer=observer)
        weights.append([p.detach().clone() for p in model.parameters()])
    assert read_live_map(tmp_path).step == 10
    for a, b in zip(*weights, strict=True):
        assert torch.equal(a, b)


RICH = TrainConfig(
    dataset="fashion-mnist",
    model=ModelConfig(kind="ae", arch="conv", latent_dim=16, channels=(16, 48), activation="elu"),
    epochs=7,
    batch_size=64,
    lr=0.1 + 0.2,  # not a short decimal: it must survive the trip exactly
    beta=0.5,
    seed=3,
    schedule="constant",
    weight_decay=0.01,
    ema=0.999,
    output_bias="random",
)


def test_a_config_survives_its_config_json(tmp_path):
    path = jobs.write_config(tmp_path, RICH)
    assert path == tmp_path / CONFIG and json.loads(path.read_text()) == json.loads(json.dumps(RICH.to_dict()))
    assert TrainConfig.from_dict(json.loads(path.read_text())) == RICH
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG]  # written atomically: no temporary file left


def test_the_command_line_a_run_is_started_with_asks_for_its_config(tmp_path):
    jobs.write_config(tmp_path, RICH)
    args = train_cli.parser().parse_args(jobs.train_arguments(tmp_path, threads=2, iwae_k=0))
    assert train_cli.config_from_args(args) == RICH
    assert (args.out, args.live, args.quiet, args.threads, args.iwae_k, args.resume) == (
        tmp_path,
        True,
        True,
        2,
        0,
        False,
    )
    assert train_cli.parser().parse_args(jobs.train_arguments(tmp_path, None, 0, resume=True)).resume


def test_flags_beside_config_override_it_and_the_rest_is_the_file(tmp_path):
    path = jobs.write_config(tmp_path, RICH)
    args = train_cli.parser().parse_args(["--config", str(path), "--epochs", "9", "--latent-dim", "3", "--arch", "mlp"])
    config = train_cli.config_from_args(args)
    assert config == replace(RICH, epochs=9, model=replace(RICH.model, latent_dim=3, arch="mlp"))
    flags = "--dataset fashion-mnist --model ae --arch conv --latent-dim 16 --channels 16 48 --activation elu "
    flags += f"--epochs 7 --batch-size 64 --lr {0.1 + 0.2!r} --beta 0.5 --seed 3 --schedule constant "
    flags += "--weight-decay 0.01 --ema 0.999 --output-bias random"
    assert train_cli.config_from_args(train_cli.parser().parse_args(flags.split())) == RICH  # flags alone: the same


def test_a_bad_config_file_gets_one_sentence_per_problem(tmp_path, capsys):
    path = tmp_path / CONFIG
    path.write_text(json.dumps({"model": {"latent_dim": 0, "hidden": [256], "depth": 3}, "lr": 0.0, "epochs": 0}))
    with pytest.raises(SystemExit) as exit_:
        train_cli.main(["--config", str(path)])
    assert exit_.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    for sentence in (
        "there is no setting 'depth'",
        "latent_dim must be a whole number of at least 1 and at most 64, not 0.",
        "lr must be a positive number of at most 1, not 0.0",
        "epochs must be a whole number of at least 1 and at most 1000, not 0",
    ):
        assert sentence in line, line
    path.write_text("{not json")
    with pytest.raises(SystemExit):
        train_cli.main(["--config", str(path)])
    assert f"the config file {path} is not JSON" in capsys.readouterr().err


def test_bad_settings_get_one_sentence_each():
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({"model": {"latent_dim": 0, "hidden": [256]}, "lr": 0.0, "epochs": 0, "seed": 1})
    problems = caught.value.problems
    assert len(problems) == 3
    assert any(p.startswith("latent_dim must be a whole number of at least 1") for p in problems)
    assert any(p.startswith("lr must be a positive number") for p in problems)
    assert any(p.startswith("epochs must be a whole number of at least 1") for p in problems)
    assert all(p.endswith(".") and p.count(". ") == 0 for p in problems)
    assert TrainConfig.from_dict({"model": {"hidden": [64]}, "epochs": 3}) == TrainConfig(
        model=ModelConfig(hidden=(64,)), epochs=3
    )


def _lock(root: Path, pid: int, folder: Path, **fields) -> None:
    """A lock record as an older app or a dead run left it; `fields` add to or replace its own."""
    root.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "folder": str(folder), "started": time.time(), **fields}
    (root / jobs.LOCK).write_text(json.dumps(record))


HOLDER = (
    "import sys; from pathlib import Path; from vae import jobs\n"
    "with jobs.hold(Path(sys.argv[1]), Path(sys.argv[2])):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"  # until the test closes its end
)


class Holder:
    """A process holding a runs root's lock as a command-line run does (`jobs.hold`), until `release`."""

    def __init__(self, root: Path, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder), str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture
def holder(tmp_path):
    held = Holder(tmp_path, tmp_path / "busy-run")
    yield held
    if held.proc.poll() is None:
        held.release()


def test_a_lock_left_by_a_dead_run_or_naming_another_program_is_ignored(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    _lock(tmp_path, finished.pid, tmp_path / "old-run")
    job = jobs.current_job(tmp_path)
    assert job is not None and job.name == "old-run" and not job.alive
    assert jobs.active_job(tmp_path) is None
    _lock(tmp_path, os.getpid(), tmp_path / "old-run")  # a live process that holds no lock is no training run
    assert jobs.active_job(tmp_path) is None


def test_the_lock_records_the_process_its_start_time_and_host_and_goes_with_it(tmp_path, holder):
    job = jobs.active_job(tmp_path)
    assert job is not None and job.pid == holder.proc.pid and job.name == "busy-run"
    stat = Path(f"/proc/{holder.proc.pid}/stat").read_text()
    assert job.process_start == stat.rsplit(")", 1)[1].split()[19] == jobs.process_start(holder.proc.pid)
    assert job.host == socket.gethostname() and job.owner is None
    holder.release()
    assert jobs.active_job(tmp_path) is None and not jobs.current_job(tmp_path).alive  # let go with the process


def test_a_second_start_is_refused_while_a_run_lives(tmp_path, holder):
    with pytest.raises(jobs.RunBusyError, match=r"A run is already training \(busy-run\); .*one run at a time"):
        jobs.start(SMALL, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["busy-run"]  # no folder made, nothing started
    with pytest.raises(jobs.RunBusyError), jobs.hold(tmp_path / "second", tmp_path):  # nor a command-line run
        pass
    holder.release()
    assert jobs.active_job(tmp_path) is None


def test_stop_signals_only_the_process_whose_number_start_time_and_host_match(tmp_path, holder):
    bystander = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        start = jobs.process_start(bystander.pid)
        folder = str(tmp_path / "busy-run")
        for wrong in ({"process_start": str(int(start) + 1)}, {"process_start": start, "host": "another-host"}):
            _lock(tmp_path, bystander.pid, folder, **{"host": socket.gethostname(), **wrong})
            job = jobs.stop(tmp_path)
            assert job is not None and job.pid == bystander.pid
            assert (tmp_path / "busy-run" / STOP).exists()  # the request every host honours
            assert bystander.poll() is None  # never signalled: not the process the record names
        _lock(tmp_path, bystander.pid, folder, process_start=start, host=socket.gethostname())
        jobs.stop(tmp_path)
        assert bystander.wait(timeout=60) != 0  # the same process: SIGINT (KeyboardInterrupt) ended it
    finally:
        bystander.kill()
        bystander.wait()


def test_in_shared_mode_only_the_session_that_started_a_run_may_stop_or_resume_it(tmp_path, holder):
    shared = ServerPolicy(mode="shared")
    _lock(
        tmp_path,
        holder.proc.pid,
        tmp_path / "busy-run",
        process_start=jobs.process_start(holder.proc.pid),
        host=socket.gethostname(),
        owner=jobs.owner_tag("session-a"),
    )
    with pytest.raises(jobs.NotYourRunError, match=r"^Only the visitor who started busy-run can stop it\.$"):
        jobs.stop(tmp_path, owner="session-b", policy=shared)
    with pytest.raises(jobs.NotYourRunError):
        jobs.stop(tmp_path, policy=shared)  # no session at all
    assert not (tmp_path / "busy-run" / STOP).exists() and holder.proc.poll() is None
    stopped = tmp_path / "stopped-run"
    stopped.mkdir()
    (stopped / jobs.OWNER).write_text(json.dumps({"owner": jobs.owner_tag("session-a")}))
    with pytest.raises(jobs.NotYourRunError, match="can resume it"):
        jobs.resume(stopped, tmp_path, owner="session-b", policy=shared)
    assert jobs.stop(tmp_path, owner="session-a", policy=shared).name == "busy-run"
    assert (tmp_path / "busy-run" / STOP).exists()
    assert jobs.owner_tag("session-a") != jobs.owner_tag("session-b") and "session-a" not in jobs.owner_tag("session-a")


def test_the_policy_refuses_a_run_over_its_caps_or_off_before_anything_starts(tmp_path, digits_npz):
    capped = ServerPolicy(mode="shared", max_parameters=10_000, max_epochs=5)
    with pytest.raises(
        jobs.NotAllowedError, match=f"has {SMALL.model.parameter_count():,} weights; this server trains at most 10,000"
    ):
        jobs.start(SMALL, tmp_path, policy=capped)
    with pytest.raises(jobs.NotAllowedError, match="at most 5 epochs a run, not 6"):
        jobs.start(replace(SMALL, model=ModelConfig(hidden=(4,)), epochs=6), tmp_path, policy=capped)
    with pytest.raises(jobs.NotAllowedError, match="^Training is off on this server.$"):
        jobs.start(SMALL, tmp_path, policy=ServerPolicy(mode="shared", training=False))
    with pytest.raises(jobs.NotAllowedError, match="datasets it offers by name"):  # a path never offered
        jobs.start(replace(SMALL, dataset=str(digits_npz)), tmp_path, policy=ServerPolicy(mode="shared"))
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_a_session_past_its_quota_is_refused(tmp_path):
    for i in range(2):
        folder = tmp_path / f"run-{i}"
        folder.mkdir()
        (folder / jobs.OWNER).write_text(json.dumps({"owner": jobs.owner_tag("session-a")}))
    assert jobs.runs_started_by("session-a", tmp_path) == 2 and jobs.runs_started_by("session-b", tmp_path) == 0
    with pytest.raises(jobs.NotAllowedError, match="^You have started 2 runs, as many as this server allows one"):
        jobs.start(SMALL, tmp_path, owner="session-a", policy=ServerPolicy(mode="shared", runs_per_session=2))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["run-0", "run-1"]


def _run_folder(root: Path, name: str, state: str, age: int, finished: bool = False, train_state: bool = True) -> Path:
    """A run folder as a run leaves it (live.json, card, training state, atlas), last touched `age` s ago."""
    folder = root / name
    folder.mkdir()
    (folder / LIVE).write_text(
        json.dumps(
            {
                "state": state,
                "name": name,
                "kind": "vae",
                "beta": 1,
                "class_names": ["0"],
                "epoch": 1,
                "epochs": 2,
                "step": 5,
                "steps": 10,
                "elapsed_s": 1,
                "eta_s": None,
                "first_step": 0,
                "curve": {"step": [], "recon": [], "kl": []},
            }
        )
    )
    if train_state:
        (folder / TRAIN_STATE).write_bytes(b"")
    (folder / CARD).write_text(json.dumps({"metrics": {"neg_elbo": 1.0} if finished else None}))
    if finished:
        (folder / ATLAS).write_bytes(b"")
    os.utime(folder, (time.time() - age, time.time() - age))
    return folder


def test_at_most_max_runs_are_kept_the_oldest_that_cannot_resume_going_first(tmp_path):
    _run_folder(tmp_path, "old-done", DONE, age=400, finished=True, train_state=False)
    _run_folder(tmp_path, "oldest-stopped", STOPPED, age=500)  # can still be resumed: kept
    _run_folder(tmp_path, "newer-done", DONE, age=300, finished=True, train_state=False)
    _run_folder(tmp_path, "diverged", FAILED, age=200)
    (tmp_path / "linked").symlink_to(tmp_path / "diverged")  # a link is no run folder: never followed or deleted
    gone = jobs.make_room(tmp_path, 3)  # room for one more beside at most two
    assert [p.name for p in gone] == ["old-done", "newer-done"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diverged", "linked", "oldest-stopped"]
    assert jobs.make_room(tmp_path, 3) == []  # two kept, room for the third
    with pytest.raises(jobs.NotAllowedError, match="^This server keeps at most 1 run and the others can still be"):
        jobs.make_room(tmp_path, 1)  # both would have to go, and the stopped one cannot: refused, nothing deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diverged", "linked", "oldest-stopped"]
    assert [p.name for p in jobs.make_room(tmp_path, 2)] == ["diverged"]


def test_an_unwritable_runs_folder_is_one_sentence_and_starts_nothing(tmp_path):
    (tmp_path / "a-file").write_text("")
    root = tmp_path / "a-file" / "runs"  # mkdir fails even for root, unlike a folder without write permission
    assert jobs.runs_folder_problem(root).startswith(f"The runs folder {root} cannot be written (Not a directory)")
    assert jobs.runs_folder_problem(tmp_path / "runs") is None
    with pytest.raises(jobs.RunsFolderError, match="cannot be written"):
        jobs.start(SMALL, root)
    assert jobs.current_job(root) is None and jobs.resumable_runs(root) == [] and jobs.stop(root) is None


def test_resumable_runs_are_the_watched_unfinished_ones(tmp_path):
    def run(name: str, state: str, finished: bool = False, train_state: bool = True) -> Path:
        return _run_folder(tmp_path, name, state, 0, finished, train_state)

    stopped, killed = run("stopped", STOPPED), run("killed", TRAINING)
    run("done", DONE, finished=True)
    run("diverged", FAILED)
    run("before-first-epoch", STOPPED, train_state=False)
    unwatched = tmp_path / "cli-run"
    unwatched.mkdir()
    (unwatched / TRAIN_STATE).write_bytes(b"")
    assert set(jobs.resumable_runs(tmp_path)) == {stopped.resolve(), killed.resolve()}


@pytest.mark.slow
def test_two_starts_at_once_start_one_run(tmp_path, digits_npz):
    config = replace(SMALL, dataset=str(digits_npz), epochs=50)
    results: list = []

    def press_start() -> None:
        try:
            results.append(jobs.start(config, tmp_path))
        except jobs.RunBusyError as err:
            results.append(err)

    threads = [threading.Thread(target=press_start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [r for r in results if isinstance(r, jobs.Job)]
    assert len(started) == 1 and sum(isinstance(r, jobs.RunBusyError) for r in results) == 1
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1
    jobs.stop(tmp_path)
    wait_until(lambda: not jobs.current_job(tmp_path).alive)


@pytest.mark.slow
def test_stop_keeps_the_last_complete_epoch_and_resume_goes_on_from_it(tmp_path, digits_npz, data_dir, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    config = replace(SMALL, dataset=str(digits_npz), epochs=400)  # far longer than the test waits
    job = jobs.start(config, tmp_path, threads=1)
    wait_until(lambda: (live := read_live(job.folder)) is not None and live.epoch >= 2)
    jobs.stop(tmp_path)
    wait_until(lambda: not jobs.current_job(tmp_path).alive)
    live = read_live(job.folder)
    assert live.state == STOPPED and live.epoch >= 2
    assert read_card(job.folder)["training"]["epochs_done"] == live.epoch
    assert jobs.resumable_runs(tmp_path) == [job.folder]
    assert "interrupted" in jobs.last_log_line(job.folder)

    resumed = jobs.resume(job.folder, tmp_path, threads=1)
    assert resumed.folder == job.folder and jobs.active_job(tmp_path) == resumed
    kept = live.epoch
    wait_until(lambda: (now := read_live(job.folder)) is not None and now.first_step > 0 and now.epoch > kept)
    jobs.stop(tmp_path)
    wait_until(lambda: not jobs.current_job(tmp_path).alive)
    live = read_live(job.folder)
    assert live.first_step == kept * 20  # it went on from the kept epoch (2,000 images in batches of 100)
    assert live.state == STOPPED and read_card(job.folder)["training"]["epochs_done"] == live.epoch > kept
    assert live.curve_step[0] == 10 and np.all(np.diff(live.curve_step) > 0)  # one curve across both sessions


@pytest.mark.slow
def test_a_run_started_where_ctrl_c_is_ignored_still_stops(tmp_path, digits_npz, data_dir, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    config = replace(SMALL, dataset=str(digits_npz), epochs=400)
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a server started with `nohup ... &`: inherited
    try:
        job = jobs.start(config, tmp_path, threads=1)
    finally:
        signal.signal(signal.SIGINT, before)
    wait_until(lambda: (live := read_live(job.folder)) is not None and live.epoch >= 1)
    jobs.stop(tmp_path)
    wait_until(lambda: not jobs.current_job(tmp_path).alive)
    assert read_live(job.folder).state == STOPPED and jobs.resumable_runs(tmp_path) == [job.folder]


@pytest.mark.slow
def test_a_killed_server_leaves_a_resumable_run(tmp_path, digits_npz, data_dir, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    config = replace(SMALL, dataset=str(digits_npz), epochs=400)
    script = (
        "import json, sys, time; from vae import jobs; from vae.models import ModelConfig; "
        "from vae.train import TrainConfig; d = json.loads(sys.argv[1]); "
        "jobs.start(TrainConfig(**{**d, 'model': ModelConfig.from_dict(d['model'])}), sys.argv[2], threads=1); "
        "time.sleep(600)"
    )
    config_json = json.dumps(config.to_dict())
    server = subprocess.Popen([sys.executable, "-c", script, config_json, str(tmp_path)])  # stands in for the app

    def trained_an_epoch() -> bool:
        job = jobs.current_job(tmp_path)
        live = read_live(job.folder) if job is not None else None
        return live is not None and live.epoch >= 1

    try:
        wait_until(trained_an_epoch)
    finally:
        server.kill()
        server.wait()
    job = jobs.current_job(tmp_path)
    wait_until(lambda: not jobs.current_job(tmp_path).alive)  # the run noticed and stopped as on Ctrl-C
    assert read_live(job.folder).state == STOPPED
    assert jobs.resumable_runs(tmp_path) == [job.folder]


@pytest.mark.slow
def test_a_command_line_run_takes_the_lock_refuses_a_second_and_stops_on_request(tmp_path, digits_npz, data_dir):
    env = {**os.environ, "VAE_RUNS": str(tmp_path), "VAE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "vae.train", "--dataset", str(digits_npz), "--hidden", "32", "--quiet"]
    command += ["--threads", "1", "--iwae-k", "0"]
    first = subprocess.Popen([*command, "--epochs", "400"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (job := jobs.active_job(tmp_path)) is not None and job.pid == first.pid)
        job = jobs.active_job(tmp_path)
        assert job.process_start == jobs.process_start(first.pid) and job.host == socket.gethostname()
        second = subprocess.run([*command, "--epochs", "1"], env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines()[-1] == f"error: {jobs._busy_sentence(job)}"
        assert [p for p in tmp_path.iterdir() if p.is_dir()] == [job.folder]  # the refused run left no folder
        wait_until(lambda: (job.folder / TRAIN_STATE).exists())  # an epoch is kept
        assert jobs.stop(tmp_path) == job
        assert first.wait(timeout=120) == 130 and "interrupted;" in first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert jobs.active_job(tmp_path) is None and not (job.folder / STOP).exists()
    card = read_card(job.folder)
    assert card["metrics"] is None and card["training"]["epochs_done"] >= 1 and (job.folder / TRAIN_STATE).exists()


@pytest.mark.slow
def test_a_run_the_page_starts_yields_the_cpu_to_the_server(tmp_path, digits_npz, data_dir, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    job = jobs.start(replace(SMALL, dataset=str(digits_npz), epochs=400), tmp_path, threads=1)
    wait_until(lambda: (live := read_live(job.folder)) is not None and live.epoch >= 1)
    try:
        assert os.getpriority(os.PRIO_PROCESS, job.pid) == os.getpriority(os.PRIO_PROCESS, 0) + jobs.NICE
    finally:
        jobs.stop(tmp_path)
        wait_until(lambda: not jobs.current_job(tmp_path).alive)


def test_a_throttle_sleeps_a_run_back_to_its_cpu_share():
    clock = {"cpu": 0.0, "wall": 0.0}
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock["wall"] += seconds

    throttle = Throttle(0.25, cpu=lambda: clock["cpu"], wall=lambda: clock["wall"], sleep=sleep)
    for _ in range(4):  # a step of 10 ms of CPU in 10 ms of wall time
        clock["cpu"] += 0.01
        clock["wall"] += 0.01
        throttle.wait()
    assert slept == pytest.approx([0.03] * 4)  # 10 ms busy, 30 ms paused: a quarter of a CPU
    assert clock["cpu"] / clock["wall"] == pytest.approx(0.25)
    Throttle(1.0, cpu=lambda: 1.0, wall=lambda: 0.0, sleep=slept.append).wait()
    assert len(slept) == 4  # a full share never pauses


@pytest.mark.slow
def test_a_shared_servers_run_trains_at_its_cpu_share(tmp_path, digits_npz, data_dir, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    offered = {"VAE_MODE": "shared", "VAE_OWN_DATA": str(digits_npz.parent), "VAE_TRAIN_CPU_SHARE": "0.5"}
    offered["VAE_MAX_EPOCHS"] = "400"  # longer than the test waits
    policy = server_policy(offered)
    job = jobs.start(replace(SMALL, dataset=str(digits_npz), epochs=400), tmp_path, owner="a", policy=policy)
    try:
        command = Path(f"/proc/{job.pid}/cmdline").read_bytes().split(b"\0")
        assert command[command.index(b"--cpu-share") + 1] == b"0.5"
    finally:
        jobs.stop(tmp_path, owner="a", policy=policy)
        wait_until(lambda: not jobs.current_job(tmp_path).alive)
    assert train_cli.parser().parse_args(jobs.train_arguments(tmp_path, 1, 0)).cpu_share == 1.0  # personal: all
