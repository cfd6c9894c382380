"""The ELBO's trade-off: every model of the dataset on the rate–distortion plane (a click opens it on the map), a β
slider that swaps the β sweep's map, manifold and prior samples in the browser, and the chosen model's KL per latent
dimension."""

from __future__ import annotations

import streamlit as st

from pages.beta_sweep import beta_slider
from pages.ui.cached import cached_card
from pages.ui.navigation import open_on_map
from pages.ui.picker import dataset_title, models
from pages.ui.selection import Selection, current_selection, load_selection
from vae import catalog, figures, tradeoff
from vae.catalog import Entry
from vae.evaluate import active_units
from vae.sweep import read_limits, sweep_root

PLANE = "elbo_plane"
SLIDER = "elbo_beta"
ZOOM = "elbo_view"
VIEWS = ("The β sweep", "Every model")


def sweep_entries(dataset: str) -> list[Entry]:
    """The β sweep's models of `dataset` that can be opened, the autoencoder first, then by β."""
    sweep = [e for e in catalog.openable(models()) if e.sweep and e.dataset == dataset]
    return sorted(sweep, key=lambda e: (e.kind == "vae", e.beta or 0.0))


def plane_points(dataset: str) -> tuple[list[tradeoff.RDPoint], set[str]]:
    """Every openable model of `dataset` as a `vae.tradeoff.RDPoint` (those whose card has no test metrics are left
    out), and the names of the β sweep's among them."""
    points, sweep = [], set()
    for entry in catalog.openable(models()):
        if entry.dataset != dataset:
            continue
        point = tradeoff.rd_point(cached_card(str(entry.folder)), entry.name)
        if point is not None:
            points.append(point)
            if entry.sweep:
                sweep.add(entry.name)
    return points, sweep


def show_plane(sel: Selection) -> None:
    points, sweep = plane_points(sel.dataset)
    collapse = read_limits(sweep_root()).get(sel.dataset, {}).get("collapse_distortion")
    view = st.segmented_control("View", VIEWS, default=VIEWS[0], key=ZOOM, label_visibility="collapsed")
    zoom = bool(sweep) and view != VIEWS[1]
    fig = figures.rate_distortion_figure(points, sweep, collapse, chosen=sel.name, zoom=zoom)
    event = st.plotly_chart(fig, key=PLANE, on_select="rerun", selection_mode="points", config={"displaylogo": False})
    clicked = [p.get("customdata") for p in (event.selection.points if event else [])]
    clicked = [name for name in clicked if isinstance(name, str) and catalog.find(models(), name)]
    if clicked:
        open_on_map(clicked[0])
    vaes = sorted((p for p in points if p.name in sweep and p.kind == "vae"), key=lambda p: p.beta)
    if vaes:
        best = min(vaes, key=lambda p: p.neg_elbo)
        st.caption(
            f"Each dashed line holds the models with one −ELBO (D + R). Lowest of the sweep: **β = {best.beta:g}**, "
            f"{best.neg_elbo:.1f} nats (D {best.distortion:.1f} + R {best.rate:.1f}). From β = {vaes[0].beta:g} to "
            f"{vaes[-1].beta:g} the rate falls from {vaes[0].rate:.1f} to {vaes[-1].rate:.1f} nats and the distortion "
            f"rises from {vaes[0].distortion:.1f} to {vaes[-1].distortion:.1f}. Click a point to open that model on "
            "the latent map."
        )


def show_slider(sel: Selection) -> None:
    entries = sweep_entries(sel.dataset)
    if len(entries) < 2:
        st.info(
            f"No β sweep of {dataset_title(sel.dataset)} is shipped; `python -m vae.sweep --grid beta=0.5,1,2 "
            f"--grid dataset={sel.dataset} --out checkpoints/sweep` trains one.",
            icon=":material/info:",
        )
        return
    loaded = [(e, load_selection(e.name)) for e in entries]
    sweep = [("AE" if e.kind == "ae" else f"β = {e.beta:g}", s) for e, s in loaded if s is not None]
    names = [s.name for _, s in sweep]
    ones = [i for i, (label, _) in enumerate(sweep) if label == "β = 1"]
    start = names.index(sel.name) if sel.name in names else (ones or [0])[0]
    released = beta_slider(sweep, start, key=SLIDER)
    label, chosen = sweep[start if released is None else released]
    if st.button(f"Open {label} on the latent map", icon=":material/scatter_plot:"):
        open_on_map(chosen.name)


def show_kl_per_dimension(sel: Selection) -> None:
    if "logvar" not in sel.atlas:
        st.info(
            f"{sel.name} is a plain autoencoder: its encoder gives one point per image, no distribution, so it has no "
            "KL term; its rate is unbounded. Choose a VAE in the sidebar to see its KL per dimension.",
            icon=":material/info:",
        )
        return
    kl = tradeoff.kl_per_dimension(sel.atlas["mu"], sel.atlas["logvar"])
    activity = tradeoff.code_activity(sel.atlas["mu"])
    used = active_units(sel.atlas["mu"])
    st.plotly_chart(figures.kl_per_dimension_figure(kl, activity), config={"displaylogo": False})
    st.caption(
        f"**{used} of {sel.latent_dim}** dimensions are active (their mean code varies over the test images by more "
        f"than 0.01); the total KL is {kl.sum():.2f} nats per image. A dimension with KL near 0 is one the encoder "
        "gave up on: its posterior is the prior whatever the image, so the decoder learns to ignore it."
    )


st.title("The ELBO's trade-off", anchor=False)
sel = current_selection()
if sel is not None:
    st.markdown(
        "The loss a VAE minimises, the negative ELBO, is a sum of two costs in nats per image: the **distortion** "
        "D, how badly the image is rebuilt from a sampled code, and the **rate** R = KL(q(z|x) ‖ p(z)), how much the "
        "code says about the image. A **β-VAE** minimises D + β·R: a small β lets the codes carry more and "
        "rebuild better, a large one pulls every code to the prior until the decoder ignores z "
        "(Alemi et al. 2018, *Fixing a Broken ELBO*)."
    )
    st.subheader(f"{dataset_title(sel.dataset)} models on the rate–distortion plane", anchor=False)
    show_plane(sel)
    st.subheader("Slide β: the same network trained at each β", anchor=False)
    st.caption(
        "The β sweep: one z = 2 MLP trained with one recipe at each β, and as a plain autoencoder. From the "
        "autoencoder's islands through β = 1 to collapse: the map of the test codes, the manifold decoded over the "
        "prior's quantiles, and the same draws from N(0, I) decoded by each model, all swapped in your browser."
    )
    show_slider(sel)
    st.subheader(f"KL per latent dimension of {sel.name}", anchor=False)
    show_kl_per_dimension(sel)
