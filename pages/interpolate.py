"""Interpolation: walk from one test image's code to another's, linearly and spherically; a partner model of the same
dataset and latent size (by default the other kind: VAE or autoencoder) walks between the same images below."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.live_decode import scrubber
from pages.ui.cached import missing_data_hint
from pages.ui.selection import Selection, current_selection, partner_selection
from pages.ui.state import map_selected
from vae import figures, latent, rendering

ENDS = ("a", "b")
STRIP_SCALE = 3


def class_members(sel: Selection, label: int) -> np.ndarray:
    return np.flatnonzero(sel.atlas["labels"] == label)


def chosen_index(sel: Selection, end: str) -> int:
    """The test index an endpoint's class and position point at."""
    members = class_members(sel, st.session_state[f"interp_{end}_class"])
    return int(members[min(st.session_state[f"interp_{end}_nth"], len(members) - 1)])


def set_endpoint(sel: Selection, end: str, index: int) -> None:
    """Point an endpoint's widgets at test image `index`."""
    label = int(sel.atlas["labels"][index])
    st.session_state[f"interp_{end}_class"] = label
    st.session_state[f"interp_{end}_nth"] = int(np.searchsorted(class_members(sel, label), index))


def random_pair(sel: Selection) -> None:
    a, b = np.random.default_rng().choice(len(sel.atlas["labels"]), size=2, replace=False)
    set_endpoint(sel, "a", int(a))
    set_endpoint(sel, "b", int(b))


def map_pair(sel: Selection, indices: list[int]) -> None:
    set_endpoint(sel, "a", indices[0])
    set_endpoint(sel, "b", indices[-1])


def endpoint_picker(sel: Selection, end: str) -> int:
    """Class and position within the class of one endpoint; shows the image; returns its test index."""
    classes = range(len(sel.class_names))
    key_class, key_nth = f"interp_{end}_class", f"interp_{end}_nth"
    if st.session_state.get(key_class) not in classes:
        st.session_state[key_class] = 0 if end == "a" else 1
    count = len(class_members(sel, st.session_state[key_class]))
    st.session_state[key_nth] = int(min(max(st.session_state.get(key_nth, 0), 0), count - 1))
    inputs, picture = st.columns([3, 1], vertical_alignment="bottom")
    with inputs:
        left, right = st.columns([3, 2])
        left.selectbox(
            f"{end.upper()}: class",
            classes,
            key=key_class,
            format_func=lambda c: sel.class_names[c],
            on_change=lambda: st.session_state.update({key_nth: 0}),
        )
        right.number_input("no.", 0, count - 1, key=key_nth, help=f"0 … {count - 1} within the class")
    index = chosen_index(sel, end)
    picture.image(rendering.png_bytes(sel.pictures([index])[0], scale=2), caption=f"#{index}", output_format="PNG")
    return index


def strips(model_sel: Selection, a: int, b: int, steps: int) -> dict[str, np.ndarray]:
    """Decoded images (steps, 28, 28) along the linear and the spherical path between two test codes."""
    mu = model_sel.atlas["mu"]
    return {m: latent.decode(model_sel.model, latent.interpolate(mu[a], mu[b], steps, m)) for m in latent.METHODS}


def show_strips(model_sel: Selection, images: dict[str, np.ndarray]) -> None:
    st.markdown(f"**{model_sel.title}** · {model_sel.name}")
    for method, frames in images.items():
        st.image(
            rendering.png_bytes(rendering.mosaic(frames), scale=STRIP_SCALE),
            caption=method,
            width="stretch",
            output_format="PNG",
        )


def downloads(model_sel: Selection, images: dict[str, np.ndarray], a: int, b: int) -> None:
    stem = f"{model_sel.name}-{a}-to-{b}"
    with st.popover("Download", icon=":material/download:"):
        for method, frames in images.items():
            st.download_button(
                f"{method} strip (PNG)",
                rendering.png_bytes(rendering.mosaic(frames), scale=4),
                file_name=f"{stem}-{method}.png",
                mime="image/png",
                key=f"interp_png_{method}",
            )
            st.download_button(
                f"{method} animation (GIF)",
                rendering.gif_bytes(frames),
                file_name=f"{stem}-{method}.gif",
                mime="image/gif",
                key=f"interp_gif_{method}",
            )


def path_map(sel: Selection, a: int, b: int, steps: int) -> None:
    projection = sel.projection()
    mu = sel.atlas["mu"]
    paths = [
        figures.path_trace(projection.to_map(latent.interpolate(mu[a], mu[b], steps, m)), name=m, color=color)
        for m, color in zip(latent.METHODS, (figures.PATH_COLOR, "#1f3b73"), strict=True)
    ]
    kind = latent.PROJECTIONS[projection.kind]
    figure = figures.latent_map_figure(
        projection.coords,
        sel.atlas["labels"],
        sel.class_names,
        extra_traces=paths,
        axis_titles=projection.axis_titles,
        height=400,
        opacity=0.3,
        class_legend=False,
        equal_aspect=projection.kind != "umap",
    )
    figure.update_layout(legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"), margin=dict(t=figures.MARGIN["t"]))
    st.plotly_chart(figure, key="interp_map", config={"displaylogo": False})
    if projection.kind != "latent":
        st.caption(f"Paths drawn in the {kind} projection of the {sel.latent_dim}-D codes.")


sel = current_selection()
if sel is None:
    st.stop()

st.title("Interpolation", anchor=False)
st.caption(
    "Two test images' codes joined by a straight line (linear) and a great-circle arc (spherical), every step "
    "decoded; the partner model walks between the same two images underneath. Drag the scrubber, or play it, to "
    "morph along the path."
)
pick_a, pick_b, settings = st.columns([4, 4, 3], gap="medium", vertical_alignment="bottom")
with pick_a:
    a = endpoint_picker(sel, "a")
with pick_b:
    b = endpoint_picker(sel, "b")
with settings:
    steps = st.slider("Steps", 3, 16, 10, key="interp_steps")
chosen = map_selected()
from_map = list(chosen.indices) if chosen is not None and chosen.dataset == sel.dataset else []
toolbar = st.container(horizontal=True, vertical_alignment="center")
toolbar.button("Random pair", icon=":material/shuffle:", on_click=random_pair, args=(sel,))
toolbar.button(
    "From the map",
    icon=":material/scatter_plot:",
    disabled=not from_map,
    on_click=map_pair,
    args=(sel, from_map),
    help="The first and last images selected on the latent map.",
)
mine = strips(sel, a, b, steps)
with toolbar:
    downloads(sel, mine, a, b)
    if sel.originals() is None:
        st.caption(missing_data_hint(sel.data) + " The pickers show reconstructions instead.")

map_col, strip_col = st.columns([2, 3], gap="medium")
with strip_col:
    partner = partner_selection(sel)
    theirs = None if partner is None else strips(partner, a, b, steps)
    shown = [(f"{sel.title} · {sel.name}", sel, mine)]
    if partner is not None:
        shown.append((f"{partner.title} · {partner.name}", partner, theirs))
    scrubber(shown, a, b, key="interp_scrubber")
    show_strips(sel, mine)
    if partner is not None:
        show_strips(partner, theirs)
        st.caption(
            "Same two images, same number of steps. A VAE's steps change the image evenly; an autoencoder's "
            "often jump, or cross blurs that look like no class at all, between its islands."
        )
with map_col:
    path_map(sel, a, b, steps)
