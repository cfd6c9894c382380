"""Latent map: every test image at its code, coloured by class or by a measured attribute; decode any point, and move
it along an attribute's or two classes' vector; the manifold overlay; samples from the prior and from
a Gaussian mixture fitted on the training codes; the prior's holes; traversals; the decoded point in the address
(?z=a,b,…); the map's points, the decoded image and the grid as downloads."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from pages.map_chart import DecodePanel, chart_event, map_chart, map_points_url, model_url
from pages.ui.cached import (
    cached_atlas,
    cached_attributes,
    cached_card,
    cached_code_span,
    cached_prior_gap,
    holes_figure_json,
    manifold_tiles,
    measured_frechet,
    missing_data_hint,
    mixture_sampler,
    mixture_samples_png,
    prior_samples_png,
)
from pages.ui.selection import Selection, current_selection
from pages.ui.state import map_selected, remember_map_selected
from pages.ui.text import verbatim
from vae import attributes, export, figures, holes, latent, rendering
from vae.checkpoint import weights_sha256
from vae.data import dataset_of

CHART = "map_chart"
DECODED_SCALE = 7  # the decoded image's download is 28 x 7 = 196 px wide, as the chart's panel shows it
_SERVER_DECODES = "map_server_decodes"  # the browser said it cannot decode: the server does
MAP_HEIGHT = 470
HOLES_VIEW = "map_holes"  # the expander of the prior's holes (open: True)
VECTOR_VIEW = "map_vector"  # the expander of the attribute vector (open: True)
COLOUR_BY = "map_colour_by"  # "class" or one of vae.attributes.ATTRIBUTES
VECTOR_KIND, VECTOR_ATTRIBUTE, VECTOR_FROM, VECTOR_TO = (
    "map_vector_kind",
    "map_vector_attr",
    "map_vector_a",
    "map_vector_b",
)
VECTOR_KINDS = {"attribute": "An attribute", "classes": "Two classes"}
VECTOR_EXTENT = 2.0  # the direction slider spans ±2σ of the codes along the vector
Z_PARAM = "z"  # the address's ?z=a,b,…: the decoded point
_Z_IN_ADDRESS = "map_z_in_address"  # the z this session last read from or wrote to the address


def slider_keys(sel: Selection) -> list[str]:
    return [f"map_z_{sel.name}_{i}" for i in range(sel.latent_dim)]


def set_code(keys: list[str], ranges: np.ndarray, code: np.ndarray) -> None:
    """Move the decode sliders to `code` (clipped to their ranges)."""
    for key, (lo, hi), value in zip(keys, ranges, np.asarray(code, dtype=np.float64).ravel(), strict=True):
        st.session_state[key] = float(np.clip(round(float(value), 2), lo, hi))


# --- The decoded point in the address -------------------------------------------------------------------------


def parse_code(text: str, sel: Selection) -> np.ndarray:
    """The code (z,) written as 'a,b,…'; ValueError, with one sentence, unless it is sel.latent_dim finite numbers."""
    try:
        code = np.array([float(part) for part in text.split(",")])
    except ValueError:
        raise ValueError(f"z {verbatim(text)} in the address is not a list of numbers") from None
    if not np.isfinite(code).all():
        raise ValueError(f"z {verbatim(text)} in the address is not a list of numbers")
    if len(code) != sel.latent_dim:
        raise ValueError(
            f"z {verbatim(text)} in the address has {len(code)} coordinates, but {sel.name} has {sel.latent_dim}"
        )
    return code


def code_text(code: np.ndarray) -> str:
    """'a,b,…': the code as the sliders show it (two decimals, no trailing zeros)."""
    return ",".join(f"{round(float(v), 2) + 0.0:.2f}".rstrip("0").rstrip(".") for v in code)


def code_from_address(sel: Selection, ranges: np.ndarray, default: np.ndarray) -> np.ndarray | None:
    """The code of the address's ?z= when this session has not seen it there yet (an opened link), else None.

    A bad value gives one warning and the centre; a point beyond the sliders' ranges, one line and the nearest
    point inside.
    """
    text = st.query_params.get(Z_PARAM)
    if text is None or text == st.session_state.get(_Z_IN_ADDRESS):
        return None
    try:
        code = parse_code(text, sel)
    except ValueError as err:
        st.warning(f"{err}; showing the centre.", icon=":material/link_off:")
        return default
    if ((code < ranges[:, 0]) | (code > ranges[:, 1])).any():
        st.warning(
            f"z {verbatim(text)} in the address lies beyond the sliders' range; showing the nearest point inside.",
            icon=":material/link_off:",
        )
    return code


def write_code_to_address(code: np.ndarray) -> None:
    """Put the decoded point in the address (no reload), so copying the address shares it."""
    text = code_text(code)
    if st.query_params.get(Z_PARAM) != text:
        st.query_params[Z_PARAM] = text
    st.session_state[_Z_IN_ADDRESS] = text


# --- Map events -----------------------------------------------------------------------------------------------


def selected_indices(sel: Selection) -> list[int]:
    """The test images selected on this model's map (kept across reruns; the chart forgets on redraw)."""
    chosen = map_selected()
    indices = chosen.indices if chosen is not None and chosen.model == sel.name else ()
    return [i for i in indices if i < len(sel.atlas["mu"])]


def apply_map_event(sel: Selection, projection: latent.MapProjection, keys: list[str], ranges: np.ndarray) -> None:
    """Act once on a new click, box, lasso or slider release: remember the selected images; a click or a release
    also moves the decoded point."""
    event = chart_event(CHART)
    if event.runtime_unavailable:
        st.session_state[_SERVER_DECODES] = True
    if event.empty:
        st.session_state["map_last_event"] = None
        return
    # the chart's event number is part of it: a second click on the same spot is a new event
    signature = json.dumps(st.session_state.get(CHART), sort_keys=True, default=str)
    if signature == st.session_state.get("map_last_event"):
        return
    st.session_state["map_last_event"] = signature
    if event.code is not None:
        if len(event.code) == len(keys):
            set_code(keys, ranges, np.array(event.code))
        return
    indices = event.test_indices()
    if indices:
        remember_map_selected(sel, indices)
    spot = event.clicked_spot()
    if spot is not None:
        set_code(keys, ranges, projection.codes[indices[0]] if indices else projection.to_latent(spot)[0])


# --- Panels ---------------------------------------------------------------------------------------------------


def decode_panel(
    sel: Selection, projection: latent.MapProjection, code: np.ndarray, ranges: np.ndarray, direction: dict | None
) -> DecodePanel:
    """The chart's decode panel: sliders at `code` (z,), the server's decode of it, and what the browser needs to
    decode on its own (the model's URL, the map projection); `direction` adds the slider along a vector."""
    image = latent.decode(sel.model, code[None].astype(np.float32))[0]
    points = map_points_url(projection.coords, projection.codes) if projection.kind == "umap" else None
    return DecodePanel(
        code=tuple(float(v) for v in code),
        ranges=tuple((float(lo), float(hi)) for lo, hi in ranges),
        step=max(round(float((ranges[:, 1] - ranges[:, 0]).max()) / 200, 2), 0.01),
        image=rendering.data_uri(rendering.png_bytes(image)),
        model=None if st.session_state.get(_SERVER_DECODES) else model_url(sel.folder),
        projection=projection.spec(points),
        direction=direction,
    )


def code_buttons(sel: Selection, keys: list[str], ranges: np.ndarray, default: np.ndarray) -> None:
    """Move the decoded point to the selected image's code, or back to the centre."""
    indices = selected_indices(sel)
    left, right = st.columns(2)
    left.button(
        "Selected",
        key="map_from_selected",
        icon=":material/my_location:",
        disabled=not indices,
        on_click=set_code,
        args=(keys, ranges, sel.atlas["mu"][indices[0]] if indices else default),
        help="Start from the selected point's code.",
        width="stretch",
    )
    centre = "the prior's mean" if sel.model.is_variational else "the codes' median"
    right.button(
        "Centre",
        key="map_reset",
        icon=":material/center_focus_weak:",
        on_click=set_code,
        args=(keys, ranges, default),
        help=f"Back to {centre}.",
        width="stretch",
    )


def downloads(sel: Selection, projection: latent.MapProjection, code: np.ndarray, grid: dict) -> None:
    """The map's points (CSV), the decoded image and the manifold grid (PNG), made when a button is pressed."""
    n = grid["n"]
    with st.popover("Download", icon=":material/download:"):
        st.download_button(
            "Map points (CSV)",
            lambda: export.points_csv(sel.atlas, sel.class_names, projection.coords),
            file_name=f"{sel.name}-{projection.kind}-points.csv",
            mime="text/csv",
            key="map_csv",
            on_click="ignore",
            icon=":material/table:",
            help="One row per test image: index, label, class, map x and y, the latent mean"
            + (" and log-variance." if sel.model.is_variational else " (an autoencoder has no log-variance)."),
        )
        st.download_button(
            "Decoded image (PNG)",
            lambda: rendering.png_bytes(latent.decode(sel.model, code[None])[0], scale=DECODED_SCALE),
            file_name=f"{sel.name}-decoded.png",
            mime="image/png",
            key="map_decoded_png",
            on_click="ignore",
            icon=":material/image:",
        )
        st.download_button(
            f"Manifold grid, {n} × {n} (PNG)",
            lambda: export.manifold_png(sel.model, projection, **grid),
            file_name=f"{sel.name}-{projection.kind}-grid-{n}x{n}.png",
            mime="image/png",
            key="map_grid_png",
            on_click="ignore",
            icon=":material/grid_on:",
            help="The grid of the overlay's settings, one tile per grid point, top row at the largest y.",
        )


@st.cache_data(show_spinner=False, max_entries=64)
def map_figure_json(folder: str, projection_kind: str, grid: dict | None, colour: str = "class") -> str:
    """The map of a model's test codes as Plotly JSON, without the selection and the crosshair (the chart's own);
    `colour` is "class" or the measured attribute that colours the points."""
    atlas = cached_atlas(folder)
    measured = cached_attributes(folder) if colour != "class" else None
    color_by = (attributes.TITLES[colour], measured[colour]) if measured is not None else None
    projection = latent.map_projection(atlas, projection_kind)
    coords = projection.coords
    if projection.kind == "latent":
        ranges = cached_code_span(folder)[0]
        x_range, y_range = tuple(ranges[0]), tuple(ranges[1])
    else:
        x_range, y_range = figures.padded_range(coords[:, 0]), figures.padded_range(coords[:, 1])
    tiles = None
    if grid is not None:
        tiles = manifold_tiles(folder, projection.kind, grid["n"], grid["span"], grid["spacing"], grid["center"])
    figure = figures.latent_map_figure(
        coords,
        atlas["labels"],
        dataset_of(cached_card(folder)).class_names,
        tiles=tiles,
        x_range=x_range,
        y_range=y_range,
        axis_titles=projection.axis_titles,
        equal_aspect=projection.kind != "umap",
        height=MAP_HEIGHT,
        opacity=0.15 if tiles else 0.55,
        color_by=color_by,
    )
    return figure.update_layout(uirevision=f"{folder}/{projection_kind}").to_json()  # a new model resets the zoom


def selection_details(sel: Selection, indices: list[int]) -> None:
    """The selected test image(s): original, reconstruction, label and scores; a grid for many."""
    if not indices:
        st.caption("Click a point to see its image and scores; box or lasso a group to see them together.")
        return
    originals = sel.originals()  # loaded on the first selection, not on the first visit
    atlas = sel.atlas
    if originals is None:
        st.caption(missing_data_hint(sel.data))
    if len(indices) == 1:
        i = indices[0]
        recon = latent.decode(sel.model, atlas["mu"][i : i + 1])[0]
        cols = st.columns([1, 1, 2], vertical_alignment="center")
        if originals is not None:
            cols[0].image(rendering.png_bytes(originals[i], scale=3), caption="original", output_format="PNG")
        cols[1].image(rendering.png_bytes(recon, scale=3), caption="reconstruction", output_format="PNG")
        scores = [("−ELBO", "neg_elbo"), ("recon", "recon"), ("KL", "kl"), ("BCE", "bce"), ("MSE", "mse")]
        text = " · ".join(f"{name} {atlas[key][i]:.3g}" for name, key in scores if key in atlas)
        cols[2].markdown(f"**{sel.class_names[atlas['labels'][i]]}** · test image {i}")
        cols[2].caption(f"{text} (nats; MSE per pixel)")
        return
    shown = indices[:64]
    images = sel.pictures(shown)
    cols = 8
    padded = np.ones((-(-len(shown) // cols) * cols, 28, 28), dtype=np.float32)
    padded[: len(shown)] = images / 255.0 if images.dtype == np.uint8 else images
    st.markdown(f"**{len(indices)} images selected**" + (" (first 64 shown)" if len(indices) > 64 else ""))
    counts = np.bincount(atlas["labels"][indices], minlength=len(sel.class_names))
    st.caption(" · ".join(f"{sel.class_names[c]}: {n}" for c, n in enumerate(counts) if n))
    st.image(
        rendering.png_bytes(rendering.mosaic(padded.reshape(-1, cols, 28, 28)), scale=2),
        caption="originals" if originals is not None else "reconstructions (originals not on disk)",
        output_format="PNG",
    )


def traversals(sel: Selection, code: np.ndarray) -> None:
    if sel.latent_dim == 2:
        st.caption("With two latent dimensions the map itself is the traversal: move the sliders or click the map.")
        return
    scale = sel.atlas["mu"].std(0)
    images = latent.decode(sel.model, latent.traversal_codes(code, scale, steps=9))
    st.caption(
        "One row per latent dimension, moved from −3σ to +3σ around the decoded point "
        "(σ: that dimension's spread over the test codes)."
    )
    st.image(rendering.png_bytes(rendering.mosaic(images), scale=2), output_format="PNG")


def chosen_vector(sel: Selection) -> tuple[str, np.ndarray] | None:
    """(label, vector (z,)) of the attribute vector's settings while its expander is open, else None; the widgets'
    defaults until they are drawn (they are drawn below the map, after the chart has its panel)."""
    if not st.session_state.get(VECTOR_VIEW):
        return None
    codes = sel.atlas["mu"]
    measured = cached_attributes(str(sel.folder))
    if st.session_state.get(VECTOR_KIND, "attribute") == "classes" or measured is None:
        forget_other_classes(sel)
        names = sel.class_names
        a, b = st.session_state.get(VECTOR_FROM, 0), st.session_state.get(VECTOR_TO, min(1, len(names) - 1))
        return f"{names[a]} → {names[b]}", attributes.class_vector(codes, sel.atlas["labels"], a, b)
    name = st.session_state.get(VECTOR_ATTRIBUTE, "thickness")
    return f"{name} ↑", attributes.attribute_vector(codes, measured[name])


def forget_other_classes(sel: Selection) -> None:
    """Drop a class chosen on another model that this one lacks (its widget starts again from its default)."""
    for key in (VECTOR_FROM, VECTOR_TO):
        if st.session_state.get(key, 0) >= len(sel.class_names):
            del st.session_state[key]


def vector_direction(sel: Selection, chosen: tuple[str, np.ndarray] | None) -> dict | None:
    """The decode panel's direction for the chosen vector: through the mean code, ±2σ along it; None for none."""
    if chosen is None or not np.linalg.norm(chosen[1]) > 0:
        return None
    origin, unit, sigma = attributes.line(sel.atlas["mu"], chosen[1])
    reach = round(VECTOR_EXTENT * sigma, 2)
    return {
        "label": chosen[0],
        "origin": [round(float(v), 4) for v in origin],
        "vector": [round(float(v), 5) for v in unit],
        "range": [-reach, reach],
    }


def vector_settings(sel: Selection, chosen: tuple[str, np.ndarray] | None) -> None:
    """The attribute vector's widgets (inside its expander) and what the chosen vector is."""
    measured = cached_attributes(str(sel.folder))
    kinds = list(VECTOR_KINDS) if measured is not None else ["classes"]
    if measured is None:
        st.caption(
            f"The attributes are measured from the test images, and those of {sel.data.title} are not on disk: "
            "only a vector between two classes is offered."
        )
    if st.session_state.get(VECTOR_KIND) not in kinds:
        st.session_state[VECTOR_KIND] = kinds[0]
    kind = st.radio("Vector from", kinds, key=VECTOR_KIND, horizontal=True, format_func=VECTOR_KINDS.get)
    if kind == "attribute":
        st.selectbox(
            "Attribute",
            attributes.ATTRIBUTES,
            index=attributes.ATTRIBUTES.index("thickness"),
            key=VECTOR_ATTRIBUTE,
            format_func=attributes.TITLES.get,
            help="The mean code of the test images in this attribute's top quartile minus that of its bottom one.",
        )
    else:
        classes = range(len(sel.class_names))
        left, right = st.columns(2)
        left.selectbox("From class", classes, index=0, key=VECTOR_FROM, format_func=sel.class_names.__getitem__)
        right.selectbox(
            "To class", classes, index=min(1, len(classes) - 1), key=VECTOR_TO, format_func=sel.class_names.__getitem__
        )
    if chosen is None or not np.linalg.norm(chosen[1]) > 0:
        st.caption("This vector is zero (a class without images, or the same class twice): nothing to move along.")
        return
    _, _, sigma = attributes.line(sel.atlas["mu"], chosen[1])
    st.caption(
        f"Length {np.linalg.norm(chosen[1]):.2f} (latent units); the codes spread σ = {sigma:.2f} along it. The "
        f'slider "{chosen[0]}" under the z sliders moves the decoded point from −2σ to +2σ along it, through the '
        "mean code, decoding in the browser as it moves."
    )


@st.fragment
def explorer(sel: Selection, projection_kind: str, grid: dict, overlay: bool, colour: str) -> None:
    """Map and decode panel: reruns alone when a slider moves or the map is clicked."""
    projection = sel.projection(projection_kind)
    keys = slider_keys(sel)
    ranges, default = sel.code_span()
    if any(k not in st.session_state for k in keys):
        set_code(keys, ranges, default)
    linked = code_from_address(sel, ranges, default)
    if linked is not None:
        set_code(keys, ranges, linked)
    apply_map_event(sel, projection, keys, ranges)

    code = np.array([st.session_state[k] for k in keys])  # float64: the sliders show the same two decimals
    write_code_to_address(code)
    selected = selected_indices(sel)
    chosen = chosen_vector(sel)
    panel = decode_panel(sel, projection, code, ranges, vector_direction(sel, chosen))
    map_chart(
        map_figure_json(str(sel.folder), projection_kind, grid if overlay else None, colour),
        overlays=[figures.highlight_trace(projection.coords[selected])] if selected else [],
        crosshair=projection.to_map(code)[0],
        panel=panel,
        tiles=grid["n"] if overlay else None,
        key=CHART,
        height=MAP_HEIGHT,
    )
    if panel.model is None:
        st.caption("Decoding in the browser is unavailable here, so the server decodes; dragging updates on release.")
    elif projection.kind == "umap":
        st.caption(
            f"UMAP has no inverse: hovering or clicking the map decodes the mean code of the {projection.k} "
            "test images nearest the pointer on the map (an approximation)."
        )
    details, actions = st.columns([3, 2], gap="medium")
    with actions:
        code_buttons(sel, keys, ranges, default)
        downloads(sel, projection, code, grid)
    with details:
        selection_details(sel, selected)

    vector_view = st.expander("Attribute vector", key=VECTOR_VIEW, on_change="rerun", icon=":material/trending_up:")
    if vector_view.open:
        with vector_view:
            vector_settings(sel, chosen)

    # Each tab's content is made only while it is open: traversals decode z x 9 images for every new point.
    samples_tab, traversal_tab = st.tabs(["Samples", "Traversals"], key="map_tab", on_change="rerun")
    if samples_tab.open:
        with samples_tab:
            samples(sel)
    if traversal_tab.open:
        with traversal_tab:
            traversals(sel, code)
    # Likewise the holes: a density grid and an MMD, drawn only while the expander is open.
    holes_view = st.expander("The prior's holes", key=HOLES_VIEW, on_change="rerun", icon=":material/blur_on:")
    if holes_view.open:
        with holes_view:
            prior_holes(sel)


SAMPLES_WHY = (
    "Why: the aggregate posterior q(z), all the training codes together, is not N(0, I), so prior samples also land "
    "in its holes; the mixture samples where the codes are (Ghosh et al., 2020)."
)


def samples(sel: Selection) -> None:
    """Images decoded from the prior and from the fitted mixture side by side, one grid size and seed for both."""
    folder, seed = str(sel.folder), st.session_state.get("map_prior_seed", 0)
    prior, mixture = st.columns(2, gap="medium", vertical_alignment="bottom")  # the two grids side by side
    with prior:
        st.markdown("**Samples from the prior**")
        st.caption("Codes drawn from z ~ N(0, I).")
        st.image(prior_samples_png(folder, 8, seed), output_format="PNG")
    with mixture:
        st.markdown("**Samples from a Gaussian mixture fitted on the training codes**")
        gmm = mixture_sampler(folder)
        if isinstance(gmm, str):
            st.info(gmm, icon=":material/info:")
        else:
            st.caption("Codes drawn from the mixture (10 components, full covariance).")
            st.image(mixture_samples_png(folder, weights_sha256(folder), 8, seed), output_format="PNG")
    st.caption(SAMPLES_WHY)
    measured = measured_frechet(folder, weights_sha256(folder))
    if measured is not None:
        st.caption(
            f"Fréchet distance of 10,000 samples to the test images, in a small classifier's features "
            f"(scripts/sample_quality.py, checkpoints/README.md; lower is closer): prior {measured[0]:.2f}, "
            f"mixture {measured[1]:.2f}."
        )
    if st.button("Draw new samples", key="map_prior_new"):
        st.session_state["map_prior_seed"] = seed + 1
        st.rerun(scope="fragment")


def gap_sentences(gap: dict) -> list[str]:
    """One line per number of `vae.holes.prior_gap`, each with what it means."""
    z = gap["latent_dim"]
    lines = [
        f"**MMD² {gap['mmd2']:.4f}**: the kernel distance between {holes.MMD_SAMPLES:,} samples of q(z) and as many "
        f"of N(0, I) (Gaussian kernels (0.5, 1, 2)·√{z} wide); about 0 when the codes fill the prior as the "
        "prior asks, comparable between models of one latent size."
    ]
    if "kl" in gap:
        cells = gap["grid_cells"]
        lines.append(
            f"**KL(q(z) ‖ p(z)) {gap['kl']:.2f} nats**: the mean of log q(z)/p(z) over codes drawn from q(z), on a "
            f"{cells} × {cells} grid (a lower bound); 0 only when q(z) is the prior."
        )
        lines.append(
            f"**Prior mass in the holes {gap['hole_mass']:.1%}**: how often a sample from the prior lands where "
            "q(z) is below a tenth of p(z), where the decoder was never trained."
        )
    return lines


def prior_holes(sel: Selection) -> None:
    """The aggregate posterior against the prior: a density picture on the map's axes (z = 2) and the numbers."""
    folder = str(sel.folder)
    widened = "" if sel.model.is_variational else " (an autoencoder's codes, each widened into a small Gaussian)"
    st.caption(
        f"q(z) = (1/N) Σₙ q(z | xₙ): the codes of the {len(sel.atlas['mu']):,} test images together{widened}, "
        "against the prior p(z) = N(0, I) that samples are drawn from."
    )
    if sel.latent_dim == 2:
        show_codes = st.toggle("Show the test codes", key="map_holes_codes")
        st.plotly_chart(
            json.loads(holes_figure_json(folder, show_codes)), key="map_holes_chart", config={"displaylogo": False}
        )
        st.caption(
            "Red: the prior puts more mass there than the codes (outlined: q < p/10, the holes); blue: the codes "
            "are denser than the prior. The axes are the map's."
        )
    else:
        st.caption(f"With {sel.latent_dim} latent dimensions there is no picture to draw: the MMD measures the gap.")
    st.markdown("\n".join(f"- {line}" for line in gap_sentences(cached_prior_gap(folder))))


def grid_settings(sel: Selection, projection_kind: str) -> dict:
    """The manifold grid's controls (size, span, spacing) and its centre, whether or not the overlay is on."""
    coords = sel.projection(projection_kind).coords
    (x0, x1), (y0, y1) = latent.occupied_region(coords)
    half = round(max(x1 - x0, y1 - y0) / 2, 1)
    gaussian_ok = sel.model.is_variational and projection_kind != "umap"
    name = f"{sel.name}_{projection_kind}"
    with st.popover("Grid settings", icon=":material/grid_on:"):
        n = st.slider("Tiles per side", 5, 30, 15, key="map_grid_n")
        span = st.slider(
            "Span (half-width, map units)",
            round(half / 4, 1),
            round(half * 2, 1),
            half,
            step=0.1,
            key=f"map_grid_span_{name}",
        )
        spacing = "linear"
        if gaussian_ok:
            spacing = st.radio(
                "Spacing",
                latent.SPACINGS,
                key="map_grid_spacing",
                horizontal=True,
                format_func={"linear": "even", "gaussian": "inverse Gaussian CDF"}.get,
                help="Kingma & Welling's manifold figure: even steps in prior probability, "
                "so tiles crowd where the prior has its mass.",
            )
    center = (0.0, 0.0) if spacing == "gaussian" else (round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2))
    return {"n": n, "span": span, "spacing": spacing, "center": center}


sel = current_selection()
if sel is None:
    st.stop()

st.title("Latent map", anchor=False)
st.caption(
    "Each dot is a test image at its latent mean. Hover the map to decode the point under the pointer, click to pin "
    "it, or move the sliders; box or lasso a group to see its images."
)
projections = latent.available_projections(sel.atlas)
controls = st.columns([2.2, 1.6, 1.6, 2], vertical_alignment="center")
if len(projections) > 1:
    projection_kind = (
        controls[0].segmented_control(
            "Projection",
            projections,
            default=projections[0],
            key="map_projection",
            format_func=latent.PROJECTIONS.get,
            label_visibility="collapsed",
            help="How the codes are drawn in 2-D (the decoder always gets the full code).",
        )
        or projections[0]
    )
else:
    projection_kind = projections[0]
    controls[0].caption("The map is the 2-D latent space itself.")
overlay = controls[1].toggle("Manifold overlay", key="map_overlay", help="Lay the decoded grid over the map.")
with controls[2]:
    grid = grid_settings(sel, projection_kind)
colours = ["class", *attributes.ATTRIBUTES] if cached_attributes(str(sel.folder)) is not None else ["class"]
if st.session_state.get(COLOUR_BY) not in colours:  # another model's choice, measured there only
    st.session_state[COLOUR_BY] = "class"
colour = controls[3].selectbox(
    "Colour by",
    colours,
    key=COLOUR_BY,
    format_func=lambda c: "Colour by ink area" if c == "area" else f"Colour by {c}",
    label_visibility="collapsed",
    help="Colour the points by their class or by an attribute measured from each test image's pixels.",
)

explorer(sel, projection_kind, grid, overlay, colour)
