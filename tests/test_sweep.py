"""The β sweep and grids of settings (`vae.sweep`, `python -m vae.sweep`): the shipped recipes, a grid's models and
names, one-sentence errors, training a real grid in two processes, the Ray engine; and the shipped sweep's models on
the rate–distortion plane (`vae.tradeoff`), measured on the real test splits."""

from __future__ import annotations

import math
import sys
import types

import pytest

from vae import tradeoff
from vae.catalog import catalog, openable
from vae.checkpoint import read_card, write_json
from vae.cli import sweep as sweep_cli
from vae.data import DATASETS
from vae.runs import TrainConfig
from vae.sweep import BETA_SWEEP, BETAS, SWEEP_BASE, SWEEP_DIR, grid, parse_axis, read_limits, sweep_name


def test_the_shipped_sweep_is_one_recipe_at_each_beta_and_its_autoencoder():
    assert len(BETA_SWEEP) == len(DATASETS) * (len(BETAS) + 1)
    for dataset in DATASETS:
        for beta in (*BETAS, None):
            config = BETA_SWEEP[sweep_name(dataset, beta)]
            assert config.dataset == dataset
            assert config.model.kind == ("ae" if beta is None else "vae")
            if beta is not None:
                assert config.beta == beta
            # everything else is the one recipe
            same = config.to_dict() | {"dataset": SWEEP_BASE.dataset, "beta": SWEEP_BASE.beta}
            same["model"] = same["model"] | {"kind": "vae"}
            assert TrainConfig.from_dict(same) == SWEEP_BASE
    assert SWEEP_BASE.model.latent_dim == 2


def test_a_grid_is_the_product_of_its_axes_each_named_by_what_differs():
    configs = grid(SWEEP_BASE, [parse_axis("beta=0.5,2"), parse_axis("model.latent_dim=2,8")])
    assert len(configs) == 4
    assert {(c.beta, c.model.latent_dim) for c in configs.values()} == {(0.5, 2), (0.5, 8), (2.0, 2), (2.0, 8)}
    assert all(n.startswith("mnist-vae-z") for n in configs) and len(set(configs)) == 4
    assert "mnist-vae-z8-b2-h128x64-e30-lr0.001" in configs


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--grid", "beta"], "SETTING=VALUE,VALUE"),
        (["--grid", "beta=x,1"], "beta must be a number"),
        (["--grid", "nope=1,2"], "there is no setting 'nope'"),
        (["--grid", "model.latent_dim=0"], "latent_dim"),
        (["--only", "sweep-mnist-b3"], "sweep-mnist-b3 is not in the sweep"),
    ],
)
def test_a_bad_grid_is_one_sentence_and_trains_nothing(argv, words, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        sweep_cli.main([*argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and words in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_finished_model_is_left_alone_without_overwrite(tmp_path, monkeypatch):
    name = sweep_name("mnist", 1.0)
    folder = tmp_path / name
    folder.mkdir()
    write_json(folder / "card.json", {"name": name})
    monkeypatch.setattr(sweep_cli.subprocess, "run", lambda *a, **k: pytest.fail("nothing should be trained"))
    line = sweep_cli.build(name, BETA_SWEEP[name], tmp_path, None)
    assert "already holds a model; left as it is" in line
    assert (folder / "card.json").exists()


def test_the_ray_engine_runs_each_model_as_a_task(monkeypatch, tmp_path):
    calls = []

    class Remote:
        def __init__(self, fn):
            self.fn = fn

        def remote(self, name):
            calls.append(name)
            return self.fn(name)

    fake = types.SimpleNamespace(
        init=lambda **kw: None, remote=lambda **opts: lambda fn: Remote(fn), get=lambda refs: list(refs)
    )
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(sweep_cli, "build", lambda name, config, out, data_dir, overwrite: f"{name} {config.beta}")
    configs = {n: BETA_SWEEP[n] for n in (sweep_name("mnist", 0.5), sweep_name("mnist", 2.0))}
    lines = list(sweep_cli.run_all(configs, tmp_path, engine="ray"))
    assert calls == list(configs) and lines == ["sweep-mnist-b0.5 0.5", "sweep-mnist-b2 2.0"]


def test_the_ray_engine_without_ray_is_one_sentence(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert sweep_cli.main(["--only", sweep_name("mnist", 1.0), "--engine", "ray", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: --engine ray needs Ray: pip install ray (or the cluster extra), then run again."


@pytest.mark.slow
def test_a_grid_trains_every_model_in_its_own_process_on_the_real_data(data_dir, tmp_path, capsys):
    out = tmp_path / "grid"
    argv = ["--grid", "beta=0.5,4", "--grid", "epochs=1", "--grid", "model.hidden=[16]", "--out", str(out)]
    assert sweep_cli.main([*argv, "--data-dir", str(data_dir)]) == 0
    folders = sorted(out.iterdir())
    assert [f.name for f in folders] == ["mnist-vae-z2-b0.5-h16-e1-lr0.001", "mnist-vae-z2-b4-h16-e1-lr0.001"]
    cards = [read_card(f) for f in folders]
    assert [c["training"]["beta"] for c in cards] == [0.5, 4.0]
    assert all((f / "atlas.npz").is_file() and (f / "sampler.npz").is_file() for f in folders)
    assert cards[0]["metrics"]["kl"] > cards[1]["metrics"]["kl"]  # a larger β pays less rate
    assert "2 models in" in capsys.readouterr().out
    assert sweep_cli.main([*argv, "--data-dir", str(data_dir)]) == 0  # again: both are left as they are
    assert capsys.readouterr().out.count("left as it is") == 2


# --- The shipped sweep on the plane (real test splits, measured when it was trained) ---


def sweep_points(checkpoints_dir, dataset: str) -> tuple[list[tradeoff.RDPoint], tradeoff.RDPoint]:
    """The shipped sweep's VAEs of `dataset` by β, and its autoencoder."""
    folder = checkpoints_dir / SWEEP_DIR
    vaes = [tradeoff.rd_point(read_card(folder / sweep_name(dataset, b)), sweep_name(dataset, b)) for b in BETAS]
    return vaes, tradeoff.rd_point(read_card(folder / sweep_name(dataset, None)), sweep_name(dataset, None))


def test_the_catalog_lists_the_sweep_after_the_shipped_models(checkpoints_dir, tmp_path):
    entries = catalog(checkpoints_dir, tmp_path / "runs")
    sweep = [e for e in openable(entries) if e.sweep]
    assert len(sweep) == len(BETA_SWEEP) and all(e.shipped for e in sweep)
    assert [e.name for e in entries if not e.sweep] == [e.name for e in entries[: len(entries) - len(sweep)]]
    mnist = [e.name for e in sweep if e.dataset == "mnist"]
    assert mnist == [sweep_name("mnist", b) for b in BETAS] + [sweep_name("mnist", None)]


SEED_SPREAD = 0.65  # nats: how far seed 1 moved the test distortion of β = 0.1 and 0.25 (checkpoints/README.md)


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_larger_beta_lowers_the_rate_and_raises_the_distortion(checkpoints_dir, dataset):
    vaes, ae = sweep_points(checkpoints_dir, dataset)
    rates, distortions = [p.rate for p in vaes], [p.distortion for p in vaes]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == len(rates), rates
    # the distortion rises with β from β = 0.5 on; below, the frontier is flat within the seed-to-seed spread
    assert distortions[2:] == sorted(distortions[2:]) and len(set(distortions[2:])) == len(distortions) - 2
    assert all(d < distortions[2] + SEED_SPREAD for d in distortions[:2]), distortions
    assert distortions[-1] - distortions[0] > 10  # and over the whole sweep by far more
    assert ae.rate == math.inf and ae.distortion < distortions[-1]
    collapse = read_limits(checkpoints_dir / SWEEP_DIR)[dataset]["collapse_distortion"]
    assert collapse > max(distortions)  # R = 0 costs more than any model that uses z


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_collapse_limit_is_the_mean_images_cross_entropy_on_the_real_data(checkpoints_dir, dataset, data_dir):
    from vae.data import load_split

    train, test = (load_split(dataset, split, data_dir).as_float() for split in (True, False))
    measured = tradeoff.collapse_distortion(train, test)
    assert read_limits(checkpoints_dir / SWEEP_DIR)[dataset]["collapse_distortion"] == pytest.approx(measured, abs=1e-2)
    assert tradeoff.collapse_distortion(test, test) < measured  # the test split's own mean fits it better
