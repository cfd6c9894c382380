"""KL per latent dimension and active units (`vae.tradeoff`) on the shipped models' atlases, and the
rate–distortion figure's contract: every model clickable by name, the limits named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vae import figures, tradeoff
from vae.checkpoint import load_atlas, read_card
from vae.evaluate import active_units


@pytest.mark.parametrize("name", ["mnist-vae-z2", "mnist-vae-z16", "fashion-mnist-vae-z16"])
def test_the_kl_per_dimension_sums_to_the_test_kl(checkpoints_dir, name):
    atlas = load_atlas(checkpoints_dir / name)
    kl = tradeoff.kl_per_dimension(atlas["mu"], atlas["logvar"])
    assert kl.shape == (atlas["mu"].shape[1],) and (kl >= 0).all()
    assert kl.sum() == pytest.approx(float(atlas["kl"].mean()), rel=1e-3)
    assert kl.sum() == pytest.approx(read_card(checkpoints_dir / name)["metrics"]["kl"], rel=0.02)


def test_the_z16_vaes_leave_dimensions_unused_and_those_carry_no_kl(checkpoints_dir):
    for name in ("mnist-vae-z16", "fashion-mnist-vae-z16"):
        atlas = load_atlas(checkpoints_dir / name)
        activity = tradeoff.code_activity(atlas["mu"])
        used = active_units(atlas["mu"])
        assert used == read_card(checkpoints_dir / name)["metrics"]["active_units"] < 16
        kl = tradeoff.kl_per_dimension(atlas["mu"], atlas["logvar"])
        assert kl[activity <= 0.01].max() < 0.05 < kl[activity > 0.01].min()


def test_an_autoencoder_is_a_point_at_infinite_rate(checkpoints_dir):
    point = tradeoff.rd_point(read_card(checkpoints_dir / "mnist-ae-z2"), "mnist-ae-z2")
    vae = tradeoff.rd_point(read_card(checkpoints_dir / "mnist-vae-z2"), "mnist-vae-z2")
    assert point.kind == "ae" and point.rate == math.inf and point.beta is None
    assert vae.neg_elbo == pytest.approx(read_card(checkpoints_dir / "mnist-vae-z2")["metrics"]["neg_elbo"], rel=1e-4)


def plane() -> list[tradeoff.RDPoint]:
    P = tradeoff.RDPoint
    sweep = [P(f"s{b}", "vae", 2, b, 130 + 5 * b, 10 / b) for b in (0.5, 1.0, 2.0)]
    return [*sweep, P("s-ae", "ae", 2, None, 128.0, math.inf), P("big", "vae", 16, 1.0, 80.0, 25.0)]


@pytest.mark.parametrize("zoom", [True, False])
def test_the_plane_names_both_limits_and_every_model_can_be_clicked(zoom):
    fig = figures.rate_distortion_figure(plane(), {"s0.5", "s1.0", "s2.0", "s-ae"}, 205.0, chosen="s1.0", zoom=zoom)
    clickable = {c for t in fig.data if t.customdata is not None for c in t.customdata}
    assert clickable == {"s0.5", "s1.0", "s2.0", "big", "s-ae"}
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "autoencoder limit, R → ∞: D = 128.0" in notes and "collapse limit, R → 0: D = 205.0" in notes
    star = [t for t in fig.data if t.name == "β = 1 (the ELBO itself)"]
    assert len(star) == 1 and list(star[0].customdata) == ["s1.0"]
    iso = [t for t in fig.data if t.name == "equal −ELBO (D + R)"]
    assert len(iso) >= 5 and all(np.isclose(np.diff(t.x)[0], -np.diff(t.y)[0]) for t in iso)  # slope −1
    assert [t.name for t in fig.data].count("the sidebar's model") == 1
    low, high = fig.layout.yaxis.range
    assert (low < 80.0) == (not zoom) and (high > 205.0) == (not zoom)  # zoomed: the sweep framed, the rest outside
    assert low < 128.0 and high > 140.0
