"""Data loading, training and the command lines, on the real datasets."""

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vae import jobs
from vae.checkpoint import (
    ATLAS,
    CARD,
    TRAIN_STATE,
    WEIGHTS,
    checkpoint_name,
    load_atlas,
    load_model,
    read_card,
    weights_sha256,
)
from vae.cli import evaluate as evaluate_cli
from vae.cli import train as train_cli
from vae.data import CLASS_NAMES, DatasetMissingError, Split, load_split, other_dataset
from vae.models import ConfigError, ModelConfig, build_model
from vae.runs import RunFolderError, TrainConfig, new_run_folder, run_name
from vae.train import TrainingDiverged, ema_decay, learning_rate, start_run, train, train_epoch, update_average

# The command of issue 11, which used to overwrite checkpoints/mnist-vae-z2; a tiny MLP and no IWAE keep it short.
ISSUE_RUN = [
    "--dataset",
    "mnist",
    "--model",
    "vae",
    "--latent-dim",
    "2",
    "--epochs",
    "1",
    "--hidden",
    "32",
    "--iwae-k",
    "0",
    "--quiet",
]
ISSUE_CONFIG = TrainConfig(model=ModelConfig(hidden=(32,)), epochs=1)  # what ISSUE_RUN asks for


@pytest.fixture(scope="module")
def mnist(data_dir):
    return load_split("mnist", True, data_dir), load_split("mnist", False, data_dir)


def _subset(split: Split, n: int) -> Split:
    return Split(split.images[:n], split.labels[:n])


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_splits(data_dir, name):
    test = load_split(name, False, data_dir)
    assert test.images.shape == (10_000, 28, 28) and test.images.dtype == torch.uint8
    assert sorted(test.labels.unique().tolist()) == list(range(10))
    x = test.as_float(slice(0, 5))
    assert x.shape == (5, 1, 28, 28) and x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    assert len(CLASS_NAMES[name]) == 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("train", [False, True])
def test_raw_files_read_directly_match_torchvision(data_dir, name, train):
    from torchvision import datasets

    ours = load_split(name, train, data_dir)
    theirs = (datasets.MNIST if name == "mnist" else datasets.FashionMNIST)(str(data_dir), train=train)
    assert torch.equal(ours.images, theirs.data) and torch.equal(ours.labels, theirs.targets.long())


def test_a_truncated_raw_file_is_one_clear_sentence(truncated_mnist):
    with pytest.raises(DatasetMissingError) as err:
        load_split("mnist", False, truncated_mnist.parents[1])
    message = str(err.value)
    assert "truncated" in message and f"delete {truncated_mnist}" in message and "\n" not in message


def test_only_the_downloaded_archives_still_load_through_torchvision(data_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ):
        (raw / f).symlink_to(data_dir / "MNIST" / "raw" / f)
    split = load_split("mnist", False, tmp_path)  # torchvision checks the archives and unpacks them
    assert torch.equal(split.images, load_split("mnist", False, data_dir).images)


def test_other_dataset():
    assert other_dataset("mnist") == "fashion-mnist" and other_dataset("fashion-mnist") == "mnist"


def test_missing_dataset_is_one_clear_sentence(tmp_path, monkeypatch):
    # No network: make the download fail the way an offline machine does.
    from torchvision.datasets import MNIST

    def offline(self):
        raise OSError("network unreachable")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(DatasetMissingError) as err:
        load_split("mnist", False, tmp_path)
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert all(f in message for f in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    assert "\n" not in message


def test_cosine_schedule():
    config = TrainConfig(lr=1e-3, epochs=10)
    assert learning_rate(config, 0.0) == pytest.approx(1e-3)
    assert learning_rate(config, 0.5) == pytest.approx(5e-4)
    assert learning_rate(config, 1.0) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_short_training_on_real_data_lowers_the_loss(mnist, kind):
    train_split = _subset(mnist[0], 4096)
    config = TrainConfig(model=ModelConfig(kind=kind, latent_dim=2, hidden=(128, 64)), epochs=3, lr=2e-3)
    torch.manual_seed(0)
    from vae.models import build_model

    model = build_model(config.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = [train_epoch(model, optimizer, train_split, config, e) for e in range(config.epochs)]
    assert losses[-1] < losses[0] - 20, losses


def test_mean_image_of_a_real_split(mnist):
    split = _subset(mnist[1], 1000)
    mean = split.mean_image()
    assert mean.shape == (28, 28)
    torch.testing.assert_close(mean, split.as_float().mean(0)[0])
    assert mean[0, 0] == 0 and mean[14, 14] > 0.3  # a blank corner, an inked centre


@pytest.mark.slow
def test_output_bias_from_the_data_trains_faster_on_real_data(mnist):
    """The recipe behind bench.train_speed: after one epoch the data-started bias is well ahead."""
    data = _subset(mnist[0], 4096)
    losses = {}
    for output_bias in ("data", "random"):
        config = TrainConfig(model=ModelConfig(latent_dim=8, hidden=(128,)), epochs=1, lr=4e-3, output_bias=output_bias)
        model, optimizer, _ = start_run(config, data)
        losses[output_bias] = train_epoch(model, optimizer, data, config, 0)
    assert losses["data"] < losses["random"] - 10, losses


def test_nan_loss_stops_with_a_clear_message(mnist):
    config = TrainConfig(model=ModelConfig(latent_dim=2, hidden=(32,)), epochs=1, lr=1e-3)
    from vae.models import build_model

    model = build_model(config.model)
    with torch.no_grad():
        model.encoder.net[0].weight.fill_(float("nan"))
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(TrainingDiverged, match="lower --lr"):
        train_epoch(model, optimizer, _subset(mnist[0], 256), config, 0)


@pytest.mark.slow
@pytest.mark.parametrize("ema", [0.0, 0.99])
def test_train_writes_checkpoint_and_resume_is_exact(mnist, tmp_path, ema):
    data = (_subset(mnist[0], 2048), _subset(mnist[1], 500))
    config = TrainConfig(model=ModelConfig(latent_dim=2, hidden=(64, 32), activation="elu"), epochs=3, seed=7, ema=ema)
    full = train(config, tmp_path / "full", data=data, iwae_k=4, progress=False)

    stopped = []

    def stop_after_two(epoch: int, loss: float) -> None:
        if epoch == 2:
            stopped.append(epoch)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "part", data=data, progress=False, on_epoch=stop_after_two)
    assert read_card(tmp_path / "part")["training"]["epochs_done"] == 2
    resumed = train(config, tmp_path / "part", resume=True, data=data, iwae_k=4, progress=False)

    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    for key in ("neg_elbo", "bce", "iwae_nll"):
        assert resumed["metrics"][key] == pytest.approx(full["metrics"][key], abs=1e-3)
    card = json.loads((tmp_path / "full" / "card.json").read_text())
    assert card["training"]["seed"] == 7 and card["versions"]["torch"] == torch.__version__
    assert card["metrics"]["iwae_nll"] <= card["metrics"]["neg_elbo"] + 0.5
    model, _ = load_model(tmp_path / "full")
    assert model.config.latent_dim == 2 and model.config.activation == "elu"


@pytest.mark.slow
def test_with_ema_the_average_ships_not_the_last_weights(mnist, tmp_path):
    data = (_subset(mnist[0], 2048), _subset(mnist[1], 500))
    config = TrainConfig(model=ModelConfig(latent_dim=2, hidden=(64, 32)), epochs=1, lr=3e-3, ema=0.99)
    train(config, tmp_path / "m", data=data, iwae_k=2, progress=False)
    state = load_file(str(tmp_path / "m" / "train_state.safetensors"))
    shipped, _ = load_model(tmp_path / "m")
    for name, value in shipped.state_dict().items():
        torch.testing.assert_close(value, state[f"average.{name}"].half().float())
        assert not torch.allclose(value, state[f"model.{name}"].half().float())


def test_update_average_moves_by_one_minus_decay():
    model, average = (
        build_model(ModelConfig(latent_dim=2, hidden=(8,))),
        build_model(ModelConfig(latent_dim=2, hidden=(8,))),
    )
    before = [p.detach().clone() for p in average.parameters()]
    update_average(average, model, decay=0.9)
    for old, new, target in zip(before, average.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * target)


def test_ema_decay_ramps_up_to_its_setting():
    config = TrainConfig(ema=0.999)
    decays = [ema_decay(config, n) for n in (1, 10, 100, 10_000)]
    assert decays == sorted(decays) and decays[0] < 0.2 and decays[-1] == 0.999


def test_cli_rejects_bad_arguments(capsys):
    for args, message in (
        (["--latent-dim", "0"], "latent_dim must be"),
        (["--epochs", "0"], "epochs must be a whole number of at least 1"),
        (["--lr", "-1"], "lr must be a positive number"),
        (["--ema", "1"], "ema must be a number of at least 0 and below 1"),
        (["--latent-dim", "65"], "latent_dim must be a whole number of at least 1 and at most 64, not 65"),
        (["--hidden", *["64"] * 5], "hidden must be 1 to 4 whole numbers of at least 1 and at most 4096"),
        (["--hidden", "4096", "4096", "4096"], "parameters, more than the 20,000,000 allowed"),
        (["--channels", "32"], "expected 2 arguments"),
        (["--epochs", "1001"], "epochs must be a whole number of at least 1 and at most 1000, not 1001"),
        (["--config", "/nonexistent/config.json"], "cannot read the config file /nonexistent/config.json"),
        (["--iwae-k", "-1"], "--iwae-k must be 0 or more"),
        (["--resume"], "--resume needs --out DIR"),
        (["--resume", "--overwrite", "--out", "x"], "not allowed with argument"),
        (["--dataset", "cifar"], "dataset must be mnist, fashion-mnist, an .npz file or an IDX folder, not 'cifar'"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
    ):
        with pytest.raises(SystemExit) as err:
            train_cli.main(args)
        assert err.value.code == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, lines)


@pytest.mark.parametrize(
    "setting",
    [
        {"epochs": 0},
        {"epochs": 1001},
        {"epochs": 2.5},
        {"batch_size": 0},
        {"batch_size": 8193},
        {"lr": 0.0},
        {"lr": 1.5},
        {"lr": math.nan},
        {"lr": math.inf},
        {"beta": -1.0},
        {"beta": 1001.0},
        {"seed": -1},
        {"seed": 2**31},
        {"weight_decay": 1.5},
        {"schedule": "linear"},
        {"weight_decay": -0.1},
        {"ema": 1.0},
        {"output_bias": "zero"},
        {"dataset": "cifar"},
        {"model": "mlp"},
    ],
    ids=str,
)
def test_a_training_config_with_a_bad_value_raises_config_error(setting):
    [(key, value)] = setting.items()
    with pytest.raises(ConfigError, match=key) as err:
        TrainConfig(**setting)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_the_zoo_recipes_are_the_shipped_models_settings(checkpoints_dir):
    from vae.zoo import RECIPES, SHIPPED

    assert list(RECIPES) == SHIPPED
    for name, config in RECIPES.items():
        assert checkpoint_name(config.dataset, config.model.kind, config.model.latent_dim) == name
        card = read_card(checkpoints_dir / name)
        assert config.model == ModelConfig.from_dict(card["model"]), name
        trained = {k: card["training"][k] for k in ("epochs", "batch_size", "lr", "beta", "seed", "schedule")}
        assert trained == {k: getattr(config, k) for k in trained}, name
        assert config.ema == card["training"].get("ema", 0.0), name


def test_a_run_is_named_for_what_it_is():
    assert run_name(TrainConfig()) == "mnist-vae-z2"
    config = TrainConfig(dataset="fashion-mnist", model=ModelConfig(arch="conv", latent_dim=16), beta=0.5, lr=1e-3)
    assert run_name(config) == "fashion-mnist-vae-z16-b0.5-conv-lr0.001"
    assert run_name(ISSUE_CONFIG) == "mnist-vae-z2-h32-e1"
    assert run_name(TrainConfig(model=ModelConfig(kind="ae"), output_bias="random")) == "mnist-ae-z2-bias-random"


def test_each_new_run_gets_its_own_folder_under_vae_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "elsewhere"))
    folders = [new_run_folder(ISSUE_CONFIG) for _ in range(3)]
    assert len(set(folders)) == 3
    for folder in folders:
        assert folder.parent == tmp_path / "elsewhere" and folder.is_dir() and not any(folder.iterdir())
        assert folder.name.startswith("mnist-vae-z2-h32-e1-")


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def _shipped_copy(checkpoints_dir: Path, dst: Path, name: str = "mnist-vae-z2") -> Path:
    dst.mkdir(parents=True)
    for f in (WEIGHTS, CARD, ATLAS):
        shutil.copy(checkpoints_dir / name / f, dst / f)
    return dst


@pytest.mark.slow
def test_a_default_run_leaves_checkpoints_untouched_and_writes_a_new_run_with_its_atlas(
    tmp_path, monkeypatch, checkpoints_dir, data_dir, capsys
):
    """The issue's command, run where checkpoints/ holds the shipped models (a copy): it trains into ./runs."""
    shutil.copytree(checkpoints_dir, tmp_path / "checkpoints", ignore=shutil.ignore_patterns(TRAIN_STATE))
    before = _hashes(tmp_path / "checkpoints")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAE_RUNS", raising=False)
    assert train_cli.main([*ISSUE_RUN, "--data-dir", str(data_dir)]) == 0
    assert _hashes(tmp_path / "checkpoints") == before

    [run] = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]  # beside the lock files
    assert run.name.startswith("mnist-vae-z2-h32-e1-") and run.name in capsys.readouterr().out
    model, card = load_model(run)
    assert card["name"] == run.name and card["model"]["hidden"] == [32] and card["training"]["epochs_done"] == 1
    atlas = load_atlas(run)  # checks the fingerprint
    assert atlas["mu"].shape == (10_000, 2) and atlas["ood_mu"].shape == (10_000, 2)
    with np.load(run / ATLAS, allow_pickle=False) as raw:
        assert (
            str(raw["weights_sha256"])
            == weights_sha256(run)
            == hashlib.sha256((run / WEIGHTS).read_bytes()).hexdigest()
        )
    assert new_run_folder(ISSUE_CONFIG) != run  # the next run of the same command gets a folder of its own
    assert not (run / TRAIN_STATE).exists()  # only --resume needs it; the run is finished
    lock = jobs.current_job(tmp_path / "runs")  # it held the runs folder's lock as it trained
    assert lock.folder == run.resolve() and lock.pid == os.getpid() and not lock.alive


def test_out_to_a_folder_holding_a_model_is_refused_in_one_line_and_changes_nothing(
    tmp_path, checkpoints_dir, data_dir, capsys
):
    folder = _shipped_copy(checkpoints_dir, tmp_path / "mine")
    before = _hashes(folder)
    with pytest.raises(SystemExit) as err:
        train_cli.main([*ISSUE_RUN, "--data-dir", str(data_dir), "--out", str(folder)])
    assert err.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(folder) in line and "--resume" in line and "--overwrite" in line
    assert _hashes(folder) == before
    (folder / CARD).unlink()  # weights alone are a model too
    with pytest.raises(SystemExit):
        train_cli.main([*ISSUE_RUN, "--data-dir", str(data_dir), "--out", str(folder)])
    assert "already holds a model" in capsys.readouterr().err


def test_resume_needs_a_run_started_with_the_same_settings(tmp_path, checkpoints_dir, mnist):
    shipped = _shipped_copy(checkpoints_dir, tmp_path / "shipped")
    with pytest.raises(RunFolderError, match="no run to resume"):  # a finished model without training state
        train(ISSUE_CONFIG, shipped, resume=True, data=mnist, progress=False)
    run = tmp_path / "run"
    data = (_subset(mnist[0], 256), _subset(mnist[1], 100))
    train(ISSUE_CONFIG, run, data=data, iwae_k=0, progress=False)
    other = TrainConfig(model=ModelConfig(hidden=(32,)), epochs=1, lr=1e-3, seed=5)
    with pytest.raises(RunFolderError, match=r"started with lr=0\.002, seed=0; resume it with the same settings"):
        train(other, run, resume=True, data=data, progress=False)


@pytest.mark.slow
def test_overwrite_replaces_the_old_run_and_leaves_none_of_its_files(tmp_path, checkpoints_dir, mnist):
    folder = _shipped_copy(checkpoints_dir, tmp_path / "m")
    (folder / "notes.txt").write_text("mine")
    data = (_subset(mnist[0], 512), _subset(mnist[1], 100))
    config = TrainConfig(model=ModelConfig(hidden=(32,)), epochs=2)

    def stop(epoch: int, loss: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # stopped after epoch 1: the old atlas must be gone already
        train(config, folder, overwrite=True, data=data, progress=False, on_epoch=stop)
    assert sorted(f.name for f in folder.iterdir()) == sorted([CARD, WEIGHTS, TRAIN_STATE, "notes.txt"])
    assert read_card(folder)["model"]["hidden"] == [32] and (folder / "notes.txt").read_text() == "mine"
    card = train(config, folder, overwrite=True, data=data, iwae_k=0, progress=False)
    assert card["training"]["epochs_done"] == 2 and [h["epoch"] for h in card["history"]] == [1, 2]


@pytest.mark.slow
def test_the_cli_resumes_an_interrupted_run_and_writes_its_atlas(tmp_path, mnist, data_dir, capsys):
    config = TrainConfig(model=ModelConfig(hidden=(32,)), epochs=2)
    run = tmp_path / "run"

    def stop(epoch: int, loss: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, run, data=mnist, progress=False, on_epoch=stop)
    assert not (run / ATLAS).exists()
    args = [*ISSUE_RUN, "--epochs", "2", "--data-dir", str(data_dir), "--out", str(run), "--resume"]
    assert train_cli.main(args) == 0
    card = read_card(run)
    assert card["training"]["epochs_done"] == 2 and [h["epoch"] for h in card["history"]] == [1, 2]
    assert load_atlas(run)["mu"].shape == (10_000, 2)
    assert not (run / TRAIN_STATE).exists()  # finished: nothing left to resume


def test_zoo_reproduces_the_shipped_models_random_output_bias(tmp_path):
    from vae.checkpoint import write_json
    from vae.cli.sweep import train_command
    from vae.zoo import RECIPES, SHIPPED

    for name in SHIPPED:
        recipe = tmp_path / f"{name}.json"
        write_json(recipe, RECIPES[name].to_dict())
        command = train_command(recipe, tmp_path / name, None, overwrite=True)
        assert command[1:3] == ["-m", "vae.train"]
        args = train_cli.parser().parse_args(command[3:])
        assert train_cli.config_from_args(args) == RECIPES[name]  # the command line is the recipe
        assert RECIPES[name].output_bias == "random", name  # they were trained before the data-started bias
        assert args.out == tmp_path / name and args.overwrite and not args.resume  # it replaces them on purpose
    assert train_cli.config_from_args(train_cli.parser().parse_args([])).output_bias == "data"
    (tmp_path / SHIPPED[0]).mkdir()
    (tmp_path / SHIPPED[0] / TRAIN_STATE).write_bytes(b"")  # an interrupted zoo run is continued
    command = train_command(tmp_path / "recipe.json", tmp_path / SHIPPED[0], None, overwrite=True)
    assert train_cli.parser().parse_args(command[3:]).resume


def test_evaluate_cli_on_a_missing_checkpoint(tmp_path, capsys):
    assert evaluate_cli.main([str(tmp_path / "nope"), "--json"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "card.json is missing" in err and len(err.splitlines()) == 1


def test_train_cli_on_a_missing_dataset(tmp_path, capsys, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "download", lambda self: (_ for _ in ()).throw(OSError("offline")))
    code = train_cli.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "m"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: mnist is not in") and len(err.splitlines()) == 1


def test_without_the_other_dataset_a_run_stops_before_training(tmp_path, capsys, monkeypatch, data_dir):
    """The atlas scores the other dataset's test split too, so a run without it fails at once, not after training."""
    from torchvision.datasets import FashionMNIST

    monkeypatch.setattr(FashionMNIST, "download", lambda self: (_ for _ in ()).throw(OSError("offline")))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "MNIST").symlink_to(data_dir / "MNIST")
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "runs"))
    assert train_cli.main([*ISSUE_RUN, "--data-dir", str(tmp_path / "data")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: fashion-mnist is not in")
    assert not (tmp_path / "runs").exists()


def test_on_disk(data_dir, tmp_path):
    from vae.data import on_disk

    assert on_disk("mnist", data_dir) and on_disk("fashion-mnist", data_dir)
    assert not on_disk("mnist", tmp_path)
