"""The catalog of model folders (vae.catalog): the shipped models and the runs, their descriptions, their order, and
the one sentence for each folder that cannot be opened. Copies of shipped checkpoints in temporary folders."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from vae.catalog import Entry, catalog, counterpart, find, openable, partners
from vae.checkpoint import (
    ATLAS,
    CARD,
    TRAIN_STATE,
    WEIGHTS,
    CheckpointError,
    check_atlas,
    load_atlas,
    load_model,
    save_weights,
)
from vae.data import DATASETS
from vae.sweep import BETAS, sweep_name

SHIPPED_ORDER = [
    "mnist-vae-z2",
    "mnist-ae-z2",
    "mnist-vae-z16",
    "mnist-ae-z16",
    "fashion-mnist-vae-z2",
    "fashion-mnist-ae-z2",
    "fashion-mnist-vae-z16",
    "fashion-mnist-ae-z16",
]
SWEEP_ORDER = [sweep_name(d, b) for d in DATASETS for b in (*BETAS, None)]  # checkpoints/sweep/, after the runs
CATALOG_ORDER = SHIPPED_ORDER + SWEEP_ORDER


def copy_model(src: Path, dst: Path, files=(WEIGHTS, CARD, ATLAS), **training) -> Path:
    """Copy `files` of checkpoint `src` into a new folder `dst`; `training` overrides entries of the card's
    "training" record (e.g. beta=4) and the card is renamed after `dst`."""
    dst.mkdir(parents=True)
    for name in files:
        shutil.copy(src / name, dst / name)
    if CARD in files:
        card = json.loads((dst / CARD).read_text())
        card["name"] = dst.name
        card["training"].update(training)
        (dst / CARD).write_text(json.dumps(card))
    return dst


def names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


@pytest.fixture
def runs(tmp_path) -> Path:
    return tmp_path / "runs"  # not created: a fresh clone has no runs folder


def test_the_shipped_models_come_in_dataset_size_kind_order(checkpoints_dir, runs):
    entries = catalog(checkpoints_dir, runs)
    assert names(entries) == CATALOG_ORDER
    assert all(e.shipped and e.problem is None for e in entries)


def test_an_entry_describes_its_model_from_the_card(checkpoints_dir, runs):
    entries = catalog(checkpoints_dir, runs)
    for name in ("mnist-vae-z2", "fashion-mnist-ae-z16"):
        card = json.loads((checkpoints_dir / name / CARD).read_text())
        entry = find(entries, name)
        model, training = card["model"], card["training"]
        assert entry.folder == checkpoints_dir / name
        assert (entry.dataset, entry.kind, entry.latent_dim) == (card["dataset"], model["kind"], model["latent_dim"])
        assert (entry.beta, entry.arch, entry.epochs) == (training["beta"], model["arch"], training["epochs_done"])
        assert entry.width == tuple(model["hidden"] if model["arch"] == "mlp" else model["channels"])
    vae, ae = find(entries, "mnist-vae-z2"), find(entries, "fashion-mnist-ae-z16")
    assert (vae.loss_name, vae.loss) == ("−ELBO", pytest.approx(136.81, abs=0.01))
    assert (ae.loss_name, ae.loss) == ("BCE", pytest.approx(211.82, abs=0.01))


def test_runs_follow_the_shipped_models_newest_first(checkpoints_dir, runs):
    old = copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2-b4-20260101-1200-aaaa", beta=4.0)
    new = copy_model(checkpoints_dir / "mnist-ae-z2", runs / "mnist-ae-z2-20260102-1200-bbbb")
    for age, folder in ((2000, old), (1000, new)):  # seconds ago
        for f in folder.iterdir():
            os.utime(f, (f.stat().st_atime, f.stat().st_mtime - age))
    entries = catalog(checkpoints_dir, runs)
    assert names(entries) == SHIPPED_ORDER + [new.name, old.name] + SWEEP_ORDER
    run = find(entries, old.name)
    assert not run.shipped and run.problem is None and run.beta == 4.0 and run.folder == old


def test_a_new_run_appears_on_the_next_scan_and_a_rewritten_one_is_read_again(checkpoints_dir, runs):
    assert names(catalog(checkpoints_dir, runs)) == CATALOG_ORDER
    run = copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2-20260101-1200-cccc")
    assert find(catalog(checkpoints_dir, runs), run.name).problem is None
    retrain(run)
    assert "was not built from the weights beside it" in find(catalog(checkpoints_dir, runs), run.name).problem


def retrain(folder: Path) -> None:
    """Replace the folder's weights by others of the same architecture (as a retrained model without a new atlas)."""
    model, _ = load_model(folder)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_weights(model, folder / WEIGHTS)


def still_training(folder: Path) -> None:
    """Make a folder look like a run after 3 of 10 epochs: training state, a card without metrics, no atlas."""
    card = json.loads((folder / CARD).read_text())
    card["metrics"] = None
    card["training"].update(epochs=10, epochs_done=3)
    (folder / CARD).write_text(json.dumps(card))
    (folder / TRAIN_STATE).write_bytes(b"")  # only its presence is read


BROKEN = {  # how a folder is broken -> (files copied, what else is done, the start of its sentence)
    "weights without a card": ((WEIGHTS,), None, "{folder}/card.json is missing, so the folder is half-written"),
    "a card without weights": ((CARD, ATLAS), None, "{folder}/model.safetensors is missing, so the folder is half"),
    "an unreadable card": ((WEIGHTS, CARD, ATLAS), "garble", "{folder}/card.json is not a valid model card"),
    "training not finished": ((WEIGHTS, CARD), still_training, "Training has not finished (3 of 10 epochs)"),
    "no atlas": ((WEIGHTS, CARD), None, "{folder}/atlas.npz is missing; rebuild it with `python -m vae.atlas"),
    "a stale atlas": ((WEIGHTS, CARD, ATLAS), retrain, "{folder}/atlas.npz was not built from the weights beside it"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_folder_is_listed_with_its_sentence_and_the_others_still_open(checkpoints_dir, runs, case):
    files, damage, sentence = BROKEN[case]
    folder = copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2-20260101-1200-dddd", files)
    if damage == "garble":
        (folder / CARD).write_text("{ not json")
    elif damage is not None:
        damage(folder)
    entries = catalog(checkpoints_dir, runs)
    broken = find(entries, folder.name)
    assert broken.problem.startswith(sentence.format(folder=folder)), broken.problem
    assert len(broken.problem.splitlines()) == 1 and broken.problem.endswith(".")
    assert names(openable(entries)) == CATALOG_ORDER


def test_a_folder_without_model_files_is_not_listed(checkpoints_dir, runs):
    (runs / "notes").mkdir(parents=True)
    (runs / "notes" / "todo.txt").write_text("train a beta sweep")
    (runs / "empty").mkdir()
    assert names(catalog(checkpoints_dir, runs)) == CATALOG_ORDER


def test_a_run_named_like_a_shipped_model_is_listed_but_not_opened(checkpoints_dir, runs):
    copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2")
    entries = catalog(checkpoints_dir, runs)
    shipped, clash = [e for e in entries if e.name == "mnist-vae-z2"]
    assert shipped.shipped and shipped.problem is None and find(entries, "mnist-vae-z2") is shipped
    assert clash.problem == (
        f"{runs / 'mnist-vae-z2'} has the name of a shipped model in {checkpoints_dir}; rename the folder to open it."
    )


def test_runs_in_the_shipped_folder_are_listed_once(checkpoints_dir):
    assert names(catalog(checkpoints_dir, checkpoints_dir)) == CATALOG_ORDER


def test_the_partners_share_dataset_and_latent_size_the_other_kind_first(checkpoints_dir, runs):
    beta4 = copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2-b4-20260101-1200-eeee", beta=4.0)
    copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2-20260101-1300-ffff", (WEIGHTS, CARD))  # broken
    entries = catalog(checkpoints_dir, runs)

    def outside_sweep(entry_name: str) -> list[str]:
        return [n for n in names(partners(entries, find(entries, entry_name))) if n not in SWEEP_ORDER]

    assert outside_sweep("mnist-vae-z2") == ["mnist-ae-z2", beta4.name]
    assert outside_sweep(beta4.name) == ["mnist-ae-z2", "mnist-vae-z2"]
    assert names(partners(entries, find(entries, "fashion-mnist-ae-z16"))) == ["fashion-mnist-vae-z16"]
    # a sweep model's partner is first the sweep's model of the other kind
    assert names(partners(entries, find(entries, sweep_name("mnist", 1.0))))[0] == sweep_name("mnist", None)
    assert names(partners(entries, find(entries, "mnist-vae-z2")))[:2] == ["mnist-ae-z2", sweep_name("mnist", None)]


def test_the_counterpart_in_another_dataset_is_the_most_alike_model(checkpoints_dir, runs):
    beta4 = copy_model(checkpoints_dir / "fashion-mnist-vae-z2", runs / "fashion-mnist-vae-z2-b4-1", beta=4.0)
    copy_model(checkpoints_dir / "mnist-vae-z2", runs / "mnist-vae-z2-b4-2", beta=4.0)
    entries = catalog(checkpoints_dir, runs)
    assert counterpart(entries, find(entries, "mnist-ae-z16"), "fashion-mnist").name == "fashion-mnist-ae-z16"
    assert counterpart(entries, find(entries, "mnist-vae-z2-b4-2"), "fashion-mnist") == find(entries, beta4.name)
    assert counterpart(entries, None, "mnist").name == "mnist-vae-z2"
    assert counterpart(entries, find(entries, "mnist-vae-z2"), "kmnist") is None


def test_check_atlas_says_what_load_atlas_says(checkpoints_dir, tmp_path):
    folder = copy_model(checkpoints_dir / "mnist-vae-z2", tmp_path / "m")
    check_atlas(folder)  # a matching atlas passes
    retrain(folder)
    for check in (check_atlas, load_atlas):
        with pytest.raises(CheckpointError) as caught:
            check(folder)
        assert str(caught.value) == (
            f"{folder / ATLAS} was not built from the weights beside it ({folder / WEIGHTS}); "
            f"rebuild it with `python -m vae.atlas {folder}`."
        )


# --- Hostile or many folders --------------------------------------------------------------------------------------


def test_a_linked_run_folder_is_not_opened(checkpoints_dir, runs):
    runs.mkdir()
    (runs / "linked").symlink_to(checkpoints_dir / "mnist-vae-z2", target_is_directory=True)
    assert names(catalog(checkpoints_dir, runs)) == CATALOG_ORDER


def test_a_linked_weights_file_is_refused_in_one_sentence(checkpoints_dir, runs):
    run = copy_model(checkpoints_dir / "mnist-vae-z2", runs / "run", files=(CARD, ATLAS))
    (run / WEIGHTS).symlink_to(checkpoints_dir / "mnist-vae-z2" / WEIGHTS)
    [entry] = [e for e in catalog(checkpoints_dir, runs) if e.name == "run"]
    assert (
        entry.problem
        == f"{run / WEIGHTS} is not a regular file (a link or a special file), so the folder is not opened."
    )


def test_a_card_that_does_not_match_the_weights_header_is_a_problem_before_any_network_is_built(
    checkpoints_dir, runs, monkeypatch
):
    run = copy_model(checkpoints_dir / "mnist-vae-z2", runs / "huge")
    card = json.loads((run / CARD).read_text())
    card["model"]["hidden"] = [2048, 2048]  # within the bounds, 11.6 M weights: not what the file holds
    (run / CARD).write_text(json.dumps(card))
    from vae import checkpoint, models

    built = []
    real = models.build_model
    monkeypatch.setattr(checkpoint, "build_model", lambda c: built.append(torch.empty(0).device) or real(c))
    [entry] = [e for e in catalog(checkpoints_dir, runs) if e.name == "huge"]
    assert entry.problem.startswith(f"{run / WEIGHTS} does not match the architecture in {run / CARD}")
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        load_model(run)
    assert built == [torch.device("meta")] * 2  # the header check alone: no real network of 2048 x 2048


def test_a_rescan_of_many_unchanged_run_folders_reads_none_of_them_again(checkpoints_dir, runs, monkeypatch):
    card = (checkpoints_dir / "mnist-vae-z2" / CARD).read_text()
    for i in range(600):
        (runs / f"run-{i:03d}").mkdir(parents=True)
        (runs / f"run-{i:03d}" / CARD).write_text(card)
    from vae import catalog as catalog_module

    assert len(catalog(checkpoints_dir, runs)) == 600 + len(CATALOG_ORDER)
    reads = []
    real = catalog_module.read_card
    monkeypatch.setattr(catalog_module, "read_card", lambda folder: reads.append(folder) or real(folder))
    assert len(catalog(checkpoints_dir, runs)) == 600 + len(CATALOG_ORDER)
    assert reads == []
    (runs / "run-007" / CARD).write_text(card)
    os.utime(runs / "run-007" / CARD, ns=(1, 1))
    catalog(checkpoints_dir, runs)
    assert reads == [runs / "run-007"]
