"""VAE vs AE: both latent maps, manifold grids and prior samples side by side, and the gaps in numbers."""

from __future__ import annotations

import streamlit as st

from pages.common import (
    KIND_TITLES,
    Selection,
    cached_atlas,
    cached_model,
    load_selection,
    manifold_tiles,
    picked_model,
    prior_samples_png,
)
from vae import figures, latent

GRID = 12


@st.cache_data(show_spinner="Measuring the gaps…", max_entries=16)
def gap_numbers(folder: str) -> dict[str, float]:
    """Gap metrics of a model over its own map (latent for z = 2, PCA otherwise)."""
    atlas = cached_atlas(folder)
    projection = latent.map_projection(atlas)
    metrics = latent.gap_metrics(cached_model(folder), projection, projection.coords)
    return {"empty": metrics.empty_cells, "jump": metrics.jump_ratio, "extent": metrics.extent}


@st.cache_data(show_spinner=False)
def prior_reach(latent_dim: int) -> float:
    return latent.prior_extent(latent_dim)


def axes_of(pair: list[Selection], matched: bool) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """(x range, y range) of each model's map; one shared range when `matched`."""
    ranges = []
    for sel in pair:
        coords = sel.projection().coords
        ranges.append((figures.padded_range(coords[:, 0]), figures.padded_range(coords[:, 1])))
    if not matched:
        return ranges
    shared = (
        (min(x[0] for x, _ in ranges), max(x[1] for x, _ in ranges)),
        (min(y[0] for _, y in ranges), max(y[1] for _, y in ranges)),
    )
    return [shared, shared]


def map_figure(sel: Selection, x_range, y_range, tiles: list[dict] | None = None, legend: bool = True):
    projection = sel.projection()
    return figures.latent_map_figure(
        projection.coords,
        sel.atlas["labels"],
        sel.class_names,
        tiles=tiles,
        x_range=x_range,
        y_range=y_range,
        axis_titles=projection.axis_titles,
        height=420,
        opacity=0.12 if tiles else 0.5,
        marker_size=3,
        class_legend=legend,
    )


def grid_tiles(sel: Selection, x_range, y_range) -> list[dict]:
    """A GRID x GRID decoded grid covering the (inner 90 % of the) plotted range."""
    center = ((x_range[0] + x_range[1]) / 2, (y_range[0] + y_range[1]) / 2)
    span = 0.45 * max(x_range[1] - x_range[0], y_range[1] - y_range[0])
    return manifold_tiles(
        str(sel.folder),
        sel.projection().kind,
        GRID,
        round(span, 3),
        "linear",
        (round(center[0], 3), round(center[1], 3)),
    )


def metrics_table(pair: list[Selection]) -> None:
    vae, ae = (gap_numbers(str(s.folder)) for s in pair)
    reach = prior_reach(pair[0].latent_dim)
    rows = [
        (
            "Empty cells over the occupied region",
            f"{vae['empty']:.0%}",
            f"{ae['empty']:.0%}",
            "A 24 × 24 grid over where 99 % of the test codes lie; the share of cells no test code falls in.",
        ),
        (
            "Jump ratio (p99 / median pixel change)",
            f"{vae['jump']:.1f}",
            f"{ae['jump']:.1f}",
            "Decode a 24 × 24 grid over that region; compare neighbouring images. 1 means every step changes the "
            "image equally; large means a few steps jump.",
        ),
        (
            "Latent extent (p99 distance from 0)",
            f"{vae['extent']:.1f}",
            f"{ae['extent']:.1f}",
            f"How far out the codes reach; for the prior N(0, I) in {pair[0].latent_dim} dimensions it is {reach:.1f}.",
        ),
    ]
    lines = ["| | VAE | Autoencoder |", "|---|--:|--:|"] + [f"| {name} | {v} | {a} |" for name, v, a, _ in rows]
    table, notes = st.columns([1, 1], gap="large")
    with table:
        st.markdown("\n".join(lines))
        with st.expander("How these are measured"):
            st.markdown("\n".join(f"- **{name}**: {how}" for name, _, _, how in rows))
    notes.markdown(
        f"Empty cells are holes inside the region the test codes occupy, where the decoder was never trained: "
        f"{vae['empty']:.0%} for the VAE, {ae['empty']:.0%} for the autoencoder, whose codes also reach "
        f"{ae['extent'] / max(vae['extent'], 1e-6):.1f}× as far from the origin (the prior N(0, I) reaches "
        f"{reach:.1f}). The jump ratio compares the largest steps across a decoded grid with the typical one: near "
        f"1 the images morph evenly, far above 1 they jump between islands; here {vae['jump']:.1f} for the VAE "
        f"and {ae['jump']:.1f} for the autoencoder."
    )


chosen = picked_model()
st.title("VAE vs AE", anchor=False)
st.caption(
    f"The VAE and the plain autoencoder of {chosen.dataset} with z = {chosen.latent_dim}: the same encoder and "
    "decoder, trained with and without the KL term."
)
pair = [load_selection(chosen.with_kind(kind).name) for kind in KIND_TITLES]
if any(p is None for p in pair):
    st.info("This page needs both the VAE and the autoencoder of the chosen dataset and latent size.")
    st.stop()

metrics_table(pair)
matched = st.toggle(
    "Matched axes",
    value=True,
    key="compare_matched",
    help="Draw both models on the same axis ranges, so their extents compare directly.",
)
ranges = axes_of(pair, matched)
maps, grids, priors = st.tabs(["Latent maps", "Manifold grids", "Prior samples"])
with maps:
    for col, sel, (x_range, y_range) in zip(st.columns(2), pair, ranges, strict=True):
        col.markdown(f"**{sel.title}** · {sel.name}")
        col.plotly_chart(
            map_figure(sel, x_range, y_range, legend=sel.kind == "ae"),
            key=f"compare_map_{sel.title}",
            config={"displaylogo": False},
        )
with grids:
    st.caption(f"A {GRID} × {GRID} grid decoded over the plotted region, each tile at the point it decodes.")
    for col, sel, (x_range, y_range) in zip(st.columns(2), pair, ranges, strict=True):
        col.markdown(f"**{sel.title}**")
        figure = map_figure(sel, x_range, y_range, grid_tiles(sel, x_range, y_range), legend=False)
        col.plotly_chart(figure, key=f"compare_grid_{sel.title}", config={"displaylogo": False})
with priors:
    st.caption(
        "Both decoders fed codes drawn from N(0, I). The VAE was trained to make these decode well; the "
        "autoencoder never was, which is why it is not a generative model."
    )
    for col, sel in zip(st.columns(2), pair, strict=True):
        col.markdown(f"**{sel.title}**")
        col.image(prior_samples_png(str(sel.folder), 8, 0), output_format="PNG")
