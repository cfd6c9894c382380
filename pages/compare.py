"""VAE vs AE: the chosen model beside a partner of its dataset and latent size (by default the other kind: VAE or
autoencoder): both latent maps, manifold grids and prior samples side by side, and the gaps in numbers."""

from __future__ import annotations

import streamlit as st

from pages.live_decode import compare_maps
from pages.ui.cached import cached_atlas, cached_model, manifold_tiles, prior_samples_png
from pages.ui.picker import dataset_title
from pages.ui.selection import Selection, current_selection, partner_selection
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
    return [shared] * len(pair)


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


def hover_map(sel: Selection, x_range, y_range) -> str:
    """A map for `compare_maps`, as JSON: the class legend under each, so both plot areas are the same size."""
    figure = map_figure(sel, x_range, y_range)
    figure.update_layout(legend=dict(orientation="h", x=0, y=-0.12, yanchor="top"))
    return figure.to_json()


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


def titles(pair: list[Selection]) -> list[str]:
    """Names that tell the models apart: their kinds, else their kinds and βs, else their folders' names."""
    for name in (
        lambda s: s.title,
        lambda s: f"{s.title} β={(s.card.get('training') or {}).get('beta', 1.0):g}",
        lambda s: s.name,
    ):
        names = [name(s) for s in pair]
        if len(set(names)) == len(names):
            return names
    return names


def metrics_table(pair: list[Selection], names: list[str]) -> None:
    numbers = [gap_numbers(str(s.folder)) for s in pair]
    reach = prior_reach(pair[0].latent_dim)
    rows = [
        (
            "Empty cells over the occupied region",
            [f"{n['empty']:.0%}" for n in numbers],
            "A 24 × 24 grid over where 99 % of the test codes lie; the share of cells no test code falls in.",
        ),
        (
            "Jump ratio (p99 / median pixel change)",
            [f"{n['jump']:.1f}" for n in numbers],
            "Decode a 24 × 24 grid over that region; compare neighbouring images. 1 means every step changes the "
            "image equally; large means a few steps jump.",
        ),
        (
            "Latent extent (p99 distance from 0)",
            [f"{n['extent']:.1f}" for n in numbers],
            f"How far out the codes reach; for the prior N(0, I) in {pair[0].latent_dim} dimensions it is {reach:.1f}.",
        ),
    ]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "--:|" * len(pair)]
    lines += [f"| {row} | " + " | ".join(cells) + " |" for row, cells, _ in rows]
    table, notes = st.columns([1, 1], gap="large")
    with table:
        st.markdown("\n".join(lines))
        with st.expander("How these are measured"):
            st.markdown("\n".join(f"- **{row}**: {how}" for row, _, how in rows))
    if len(pair) < 2:
        return
    (a, b), (ta, tb) = numbers, names
    notes.markdown(
        f"Empty cells are holes inside the region the test codes occupy, where the decoder was never trained: "
        f"{a['empty']:.0%} for the {ta}, {b['empty']:.0%} for the {tb}, whose codes reach "
        f"{b['extent'] / max(a['extent'], 1e-6):.1f}× as far from the origin (the prior N(0, I) reaches "
        f"{reach:.1f}). The jump ratio compares the largest steps across a decoded grid with the typical one: near "
        f"1 the images morph evenly, far above 1 they jump between islands; here {a['jump']:.1f} for the {ta} "
        f"and {b['jump']:.1f} for the {tb}."
    )


sel = current_selection()
if sel is None:
    st.stop()
st.title("VAE vs AE", anchor=False)
intro, choice = st.columns([3, 2], vertical_alignment="bottom")
with choice:
    partner = partner_selection(sel)
pair = [sel] if partner is None else [sel, partner]
names = titles(pair)
about = f"{dataset_title(sel.dataset)} with z = {sel.latent_dim}"
if len({s.kind for s in pair}) == 2:
    intro.caption(
        f"A VAE and a plain autoencoder of {about}, trained with and without the KL term: their maps, decoded grids "
        "and prior samples side by side."
    )
else:
    intro.caption(f"Models of {about}: their maps, decoded grids and prior samples.")

metrics_table(pair, names)
matched = len(pair) == 2 and st.toggle(
    "Matched axes",
    value=True,
    key="compare_matched",
    help="Draw both models on the same axis ranges, so their extents compare directly.",
)
ranges = axes_of(pair, matched)
maps, grids, priors = st.tabs(["Latent maps", "Manifold grids", "Prior samples"])
with maps:
    st.caption("Hover either map: both models decode the point under the pointer, side by side.")
    compare_maps(
        [
            (f"{name} · {sel_i.name}", sel_i, hover_map(sel_i, x_range, y_range))
            for sel_i, name, (x_range, y_range) in zip(pair, names, ranges, strict=True)
        ],
        key="compare_hover",
    )
with grids:
    st.caption(f"A {GRID} × {GRID} grid decoded over the plotted region, each tile at the point it decodes.")
    for i, (col, sel_i, name, (x_range, y_range)) in enumerate(zip(st.columns(2), pair, names, ranges, strict=False)):
        col.markdown(f"**{name}** · {sel_i.name}")
        figure = map_figure(sel_i, x_range, y_range, grid_tiles(sel_i, x_range, y_range), legend=False)
        col.plotly_chart(figure, key=f"compare_grid_{i}", config={"displaylogo": False})
with priors:
    st.caption(
        "Each decoder fed codes drawn from N(0, I). A VAE was trained to make these decode well; an autoencoder "
        "never was, which is why it is not a generative model."
    )
    for col, sel_i, name in zip(st.columns(2), pair, names, strict=False):
        col.markdown(f"**{name}**")
        col.image(prior_samples_png(str(sel_i.folder), 8, 0), output_format="PNG")
