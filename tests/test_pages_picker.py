"""The sidebar's model picker through Streamlit's AppTest: every shipped model and run, the dataset filter, runs in
the address, broken folders with their sentence, the partner on /compare and /interpolate, and models of other
latent sizes (tiny runs trained here: z = 1 and z = 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae import atlas
from vae.checkpoint import ATLAS, CARD, WEIGHTS
from vae.data import Split, load_split
from vae.models import ModelConfig
from vae.runs import TrainConfig, new_run_folder
from vae.sweep import BETAS
from vae.train import train

ROOT = Path(__file__).resolve().parents[1]
RUN = "mnist-vae-z2-b4-20260101-1200-aaaa"  # a copy of mnist-vae-z2 posing as a β = 4 run
HALF = "mnist-vae-z2-20260101-1300-bbbb"  # a half-written run: card and atlas, no weights
SHIPPED_MNIST = ["mnist-vae-z2", "mnist-ae-z2", "mnist-vae-z16", "mnist-ae-z16"]
SWEEP = len(BETAS) + 1  # the β sweep's models of each dataset (checkpoints/sweep/), listed after the runs
ONE_D = "This model has a 1-D latent space; the explorer needs at least 2 dimensions."


def copy_model(src: Path, dst: Path, files=(WEIGHTS, CARD, ATLAS), **training) -> Path:
    dst.mkdir(parents=True)
    for name in files:
        shutil.copy(src / name, dst / name)
    card = json.loads((dst / CARD).read_text())
    card["name"] = dst.name
    card["training"].update(training)
    (dst / CARD).write_text(json.dumps(card))
    return dst


@pytest.fixture
def runs(tmp_path, checkpoints_dir, data_dir, monkeypatch) -> Path:
    """A runs folder holding RUN and HALF; the app reads it and the real checkpoints."""
    runs = tmp_path / "runs"
    copy_model(checkpoints_dir / "mnist-vae-z2", runs / RUN, beta=4.0)
    copy_model(checkpoints_dir / "mnist-vae-z2", runs / HALF, (CARD, ATLAS))
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(runs))
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    return runs


def open_page(page: str, model: str | None = None) -> AppTest:
    """Run app.py on `page`, opened from an address naming `model` when given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    if model is not None:
        at.query_params["model"] = model
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def model_select(at: AppTest):
    return at.selectbox(key="picker_model")


def shown_models(at: AppTest) -> list[str]:
    """The model select's options as shown (their labels)."""
    return list(model_select(at).options)


def sidebar_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.sidebar.markdown)


# --- listing and choosing -----------------------------------------------------------------------------------------


def test_the_picker_lists_the_shipped_models_then_the_runs_of_the_chosen_dataset(runs, checkpoints_dir):
    at = open_page("overview")
    assert at.selectbox(key="picker_dataset").value == "mnist" and model_select(at).value == "mnist-vae-z2"
    assert list(at.selectbox(key="picker_dataset").options) == ["MNIST", "Fashion-MNIST"]
    labels = shown_models(at)
    assert labels[:4] == [
        "VAE · z=2 · β=1 · −ELBO 136.8 · MLP 768-384 · 60 ep",
        "AE · z=2 · BCE 131.2 · MLP 768-384 · 20 ep",
        "VAE · z=16 · β=1 · −ELBO 95.1 · Conv 32-64 · 40 ep",
        "AE · z=16 · BCE 67.8 · Conv 32-64 · 6 ep",
    ]
    run, *sweep = labels[4:]
    assert run.startswith("VAE · z=2 · β=4 · −ELBO 136.8 · MLP 768-384 · 60 ep · run ")
    assert len(sweep) == SWEEP and all(label.endswith(" · MLP 128-64 · 30 ep · β sweep") for label in sweep)
    assert sweep[0].startswith("VAE · z=2 · β=0.1 · −ELBO ") and sweep[-1].startswith("AE · z=2 · BCE ")
    assert [c.value for c in at.sidebar.caption] == [
        f"MNIST · VAE · z=2 · β=1 · MLP 768-384 · 60 ep · −ELBO 136.8  \nShipped: `{checkpoints_dir / 'mnist-vae-z2'}`"
    ]


def test_the_dataset_filter_keeps_the_kind_and_size_and_rewrites_the_address(runs):
    at = open_page("overview", model="mnist-ae-z16")
    at.selectbox(key="picker_dataset").set_value("fashion-mnist").run()
    assert not at.exception
    assert model_select(at).value == "fashion-mnist-ae-z16" and at.query_params["model"] == "fashion-mnist-ae-z16"
    assert len(shown_models(at)) == 4 + SWEEP and shown_models(at)[3] == "AE · z=16 · BCE 211.8 · Conv 32-64 · 6 ep"
    assert at.sidebar.caption[0].value.startswith("Fashion-MNIST · AE · z=16 · ")


def test_choosing_a_run_opens_it_and_puts_its_name_in_the_address(runs):
    at = open_page("overview")
    model_select(at).set_value(RUN).run()
    assert not at.exception and not at.error
    assert at.query_params["model"] == RUN
    assert any(f"**{RUN}** · VAE" in c.value for c in at.caption)  # the overview's model card
    assert at.sidebar.caption[0].value.endswith(f"Run: `{runs / RUN}`")


def test_a_link_to_a_run_opens_it(runs):
    at = open_page("map", model=RUN)
    assert model_select(at).value == RUN and not at.warning and not at.error
    assert at.get("component_instance"), "the run's map is not drawn"
    assert at.query_params["model"] == RUN


def test_a_new_run_appears_on_the_next_rerun(runs, checkpoints_dir):
    at = open_page("overview")
    assert len(shown_models(at)) == 5 + SWEEP
    new = copy_model(checkpoints_dir / "mnist-ae-z2", runs / "mnist-ae-z2-20260102-0900-cccc")
    at.run()
    assert len(shown_models(at)) == 6 + SWEEP
    model_select(at).set_value(new.name).run()
    assert not at.exception and at.query_params["model"] == new.name


# --- broken folders -----------------------------------------------------------------------------------------------


def test_a_broken_folder_is_listed_with_its_problem_while_the_others_open(runs):
    at = open_page("map")
    problem = f"{runs / HALF / WEIGHTS} is missing, so the folder is half-written"
    assert [e.label for e in at.sidebar.expander] == ["Can't open 1 folder"]
    assert f"- **{HALF}**: {problem}" in sidebar_text(at)
    assert len(shown_models(at)) == 5 + SWEEP  # the shipped MNIST models, RUN and the β sweep
    assert not at.error and at.get("component_instance"), "the default model's map is not drawn"
    model_select(at).set_value(RUN).run()
    assert not at.exception and not at.error and at.get("component_instance")


def test_a_link_to_a_broken_folder_warns_once_and_opens_the_default(runs):
    at = open_page("map", model=HALF)
    [warning] = [w.value for w in at.warning]
    assert warning.startswith(f"Model ` {HALF} ` in the address cannot be opened ({runs / HALF / WEIGHTS} is missing")
    assert warning.endswith("; showing mnist-vae-z2.")
    assert model_select(at).value == "mnist-vae-z2" and at.query_params["model"] == "mnist-vae-z2"
    at.run()
    assert not at.warning


# --- partners -----------------------------------------------------------------------------------------------------


def gap_table(at: AppTest) -> list[str]:
    table = next(m.value for m in at.markdown if "Empty cells" in m.value)
    return table.splitlines()[0]


def test_compare_pairs_the_model_with_the_other_kind_and_takes_another_beta(runs):
    at = open_page("compare")
    partner = at.selectbox(key="partner")
    assert partner.value == "mnist-ae-z2" and len(partner.options) == 2 + SWEEP  # the AE, the β = 4 run, the sweep
    assert gap_table(at) == "| | VAE | Autoencoder |"
    partner.set_value(RUN).run()
    assert not at.exception and not at.error
    assert gap_table(at) == "| | VAE β=1 | VAE β=4 |"
    assert f"**VAE β=4** · {RUN}" in [m.value for m in at.markdown]
    at = open_page("compare", model=RUN)
    assert at.selectbox(key="partner").value == "mnist-ae-z2"


def test_interpolation_walks_the_partner_too(runs):
    at = open_page("interpolate")
    assert at.selectbox(key="partner").value == "mnist-ae-z2"
    assert "**Autoencoder** · mnist-ae-z2" in [m.value for m in at.markdown]
    at.selectbox(key="partner").set_value(RUN).run()
    assert not at.exception
    assert f"**VAE** · {RUN}" in [m.value for m in at.markdown]
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert captions.count("linear") == 2 and captions.count("spherical") == 2


# --- other latent sizes -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, data_dir) -> Path:
    """A runs folder with two tiny MNIST VAEs (one epoch on 2,000 images, hidden 32-16) and their atlases: z = 1 and
    z = 3. The z = 3 atlas's UMAP plane is its PCA plane: real UMAP takes minutes on these CPUs (the shipped z = 16
    atlases carry real ones, and tests/test_pages_explorer.py draws them)."""
    root = tmp_path_factory.mktemp("tiny-runs")
    train_split, test_split = load_split("mnist", True, data_dir), load_split("mnist", False, data_dir)
    data = Split(train_split.images[:2000], train_split.labels[:2000]), Split(test_split.images, test_split.labels)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            atlas, "umap_projection", lambda codes, seed=0: (codes - codes.mean(0)) @ atlas.pca_basis(codes)[1].T
        )
        for z in (1, 3):
            config = TrainConfig(model=ModelConfig(latent_dim=z, hidden=(32, 16)), epochs=1)
            folder = new_run_folder(config, root)
            train(config, folder, data=data, iwae_k=0, progress=False)
            atlas.write_atlas(folder, data_dir)
    return root


@pytest.fixture
def tiny(tiny_runs, checkpoints_dir, data_dir, monkeypatch) -> dict[int, str]:
    """The tiny runs by latent size, the app reading them and the real checkpoints."""
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(tiny_runs))
    monkeypatch.setenv("VAE_DATA_DIR", str(data_dir))
    return {int(f.name.split("-z")[1].split("-")[0]): f.name for f in tiny_runs.iterdir() if f.is_dir()}


PAGES = ["overview", "map", "interpolate", "compare", "image", "anomaly"]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_a_one_dimensional_model_says_so_in_one_line_on_every_page(tiny, page):
    at = open_page(page, model=tiny[1])
    assert model_select(at).value == tiny[1]
    assert [i.value for i in at.info] == [ONE_D] and not at.error
    assert not at.get("plotly_chart") and not at.get("component_instance")


@pytest.mark.slow
def test_a_three_dimensional_model_works_on_every_page(tiny):
    name = tiny[3]
    at = open_page("map", model=name)
    assert not at.error and at.get("component_instance")
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    assert len(json.loads(chart.proto.json_args)["code"]) == 3  # three sliders in the chart's panel
    assert list(at.button_group(key="map_projection").options) == ["PCA", "UMAP"]
    at.button_group(key="map_projection").set_value("umap").run()
    assert not at.exception and not at.error

    at = open_page("compare", model=name)
    assert [i.value for i in at.info] == [
        f"No other MNIST model with z = 3 to set beside {name}; train one with "
        "`python -m vae.train --dataset mnist --latent-dim 3 --model ae`."
    ]
    assert gap_table(at) == "| | VAE |" and len(at.get("plotly_chart")) == 1  # its grid; its map is a component
    assert [c.proto.component_name.endswith("compare_maps") for c in at.get("component_instance")] == [True]

    at = open_page("interpolate", model=name)
    assert len(at.info) == 1 and not at.error
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert captions.count("linear") == 1 and captions.count("spherical") == 1

    at = open_page("overview", model=name)
    assert not at.error and any(f"**{name}** · VAE" in c.value for c in at.caption)
    at = open_page("image", model=name)
    assert not at.error
    at = open_page("anomaly", model=name)
    assert not at.error and "AUROC" in [m.label for m in at.metric]
