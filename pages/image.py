"""Your image: upload, photograph or draw one; see it prepared like the training data, reconstructed, placed on the
latent map among its nearest test images, and judged by the anomaly score."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.draw_pad import DrawingError, draw_pad
from pages.ui.cached import missing_data_hint
from pages.ui.selection import Selection, current_selection
from pages.ui.state import anomaly_setting
from vae import anomaly, figures, images, rendering

SCALE = 6  # 28 x 6 = 168 px for the model's input and its reconstruction
STEP_PX = 76  # the preprocessing thumbnails: nine fit in one row at 1280 px
SOURCES = {"upload": "Upload", "camera": "Camera", "draw": "Draw"}
WHAT = {"mnist": "a handwritten digit", "fashion-mnist": "a piece of clothing, a shoe or a bag on a plain background"}


def what_to_bring(sel: Selection) -> str:
    """What the model was trained on, e.g. 'a handwritten digit'; for the user's own data, 'an image like ...'."""
    return WHAT.get(sel.dataset, f"an image like those of {sel.data.title}")


@st.cache_data(show_spinner="Preparing your image…", max_entries=16)
def prepared_upload(data: bytes, dataset: str, auto_invert: bool) -> images.Prepared | str:
    """`images.prepare_bytes`, cached per file, or the one sentence of its `images.ImageError`: cached too, so a
    rerun never decodes a bad file again."""
    try:
        return images.prepare_bytes(data, dataset, auto_invert)
    except images.ImageError as err:
        return str(err)


def upload_limit_mb() -> int:
    """The upload size limit set in .streamlit/config.toml (server.maxUploadSize), in megabytes."""
    return int(st.get_option("server.maxUploadSize"))


def choose_source() -> str:
    """'upload', 'camera' or 'draw'."""
    return st.segmented_control(
        "Source", list(SOURCES), default="upload", key="image_source", format_func=SOURCES.get, required=True
    )


def drawn_input(sel: Selection, auto_invert: bool) -> images.Prepared | None:
    """The drawing pad, the page's width (it shows the live reconstruction and posterior beside the board); the
    board prepared after the last stroke, or None (after a message) when nothing is drawn."""
    st.caption(f"Draw {what_to_bring(sel)} in the box, large and centred.")
    try:
        data = draw_pad(sel, auto_invert, key="image_draw_pad")
    except DrawingError as err:
        st.error(str(err), icon=":material/error:")
        return None
    if data is None:
        st.info("Nothing drawn yet.", icon=":material/draw:")
        return None
    return prepared_or_error(data, sel, auto_invert)


def prepared_or_error(data: bytes, sel: Selection, auto_invert: bool) -> images.Prepared | None:
    """The image prepared like the training data, or None after its one-sentence error."""
    prepared = prepared_upload(data, sel.dataset, auto_invert)
    if isinstance(prepared, str):
        st.error(prepared, icon=":material/error:")
        return None
    return prepared


def image_input(sel: Selection, source: str, auto_invert: bool) -> images.Prepared | None:
    """The upload or camera widget; the prepared image, or None (after a message) when there is none to use."""
    if source == "camera":
        shot = st.camera_input("Take a photo", key="image_camera", help="Hold the page close; fill the frame.")
        data = shot.getvalue() if shot is not None else None
    else:
        upload = st.file_uploader(
            "Image file",
            type=list(images.UPLOAD_TYPES),
            key="image_upload",
            help=f"PNG, JPEG, BMP, GIF or WebP, up to {upload_limit_mb()} MB and {images.MAX_PIXELS // 1_000_000} "
            "megapixels.",
        )
        st.caption(f"PNG, JPEG, BMP, GIF or WebP · up to {upload_limit_mb()} MB per file.")
        data = upload.getvalue() if upload is not None else None
    if data is None:
        st.info(
            f"Upload, photograph or draw {what_to_bring(sel)} to see what the model makes of it.",
            icon=":material/upload:",
        )
        return None
    return prepared_or_error(data, sel, auto_invert)


def show_steps(prepared: images.Prepared) -> None:
    st.markdown("**How it was prepared**: step by step, the way the training images were made")
    for note in prepared.notes:
        st.caption(note)
    strip = st.container(horizontal=True, gap="xsmall")
    for step in prepared.steps:
        with strip.container(width=STEP_PX + 8, gap=None):
            st.image(rendering.boxed(step.image, STEP_PX))
            st.caption(f"**{step.title}**  \n{step.note}")


def show_verdict(sel: Selection, reading: anomaly.ImageReading) -> None:
    setting = anomaly_setting(sel)
    score = reading.scores[setting.score]
    name, unit = anomaly.SCORE_NAMES[setting.score], anomaly.SCORE_UNITS[setting.score]
    how = "set on the Anomaly detection page" if setting.chosen_on_page else "the 99th percentile of the test split"
    st.metric(f"{name} ({unit})", f"{score:.4g}", help="Higher means less like the training data.")
    flagged = anomaly.is_anomaly(score, setting.threshold)
    verdict = (
        f"**{'Unlike' if flagged else 'Like'} the {sel.data.title} training data**: the score is "
        f"{'above' if flagged else 'below'} the threshold {setting.threshold:.4g}"
    )
    detail = f" ({how}; {setting.false_alarms:.1%} of the model's own test images are flagged)."
    if flagged:
        st.warning(verdict + detail, icon=":material/report:")
    else:
        st.success(verdict + detail, icon=":material/check_circle:")
    likelihood = anomaly.likelihood_key(reading.scores)
    median = float(np.median(sel.atlas[likelihood]))
    cols = st.columns(2)
    cols[0].metric(
        f"{anomaly.SCORE_NAMES[likelihood]} (nats)",
        f"{reading.scores[likelihood]:.1f}",
        help=f"Test-split median: {median:.1f}.",
    )
    cols[1].metric(
        "Reconstruction MSE",
        f"{reading.scores['mse']:.4f}",
        help=f"Test-split median: {float(np.median(sel.atlas['mse'])):.4f}.",
    )


def show_map(sel: Selection, reading: anomaly.ImageReading) -> None:
    projection = sel.projection("latent" if sel.latent_dim == 2 else "pca")
    mean, cov = anomaly.posterior_on_map(reading.mu, reading.logvar, projection)
    fig = figures.latent_map_figure(
        projection.coords,
        sel.atlas["labels"],
        sel.class_names,
        axis_titles=projection.axis_titles,
        extra_traces=figures.posterior_traces(mean, cov),
        height=460,
        marker_size=3.5,
        opacity=0.45,
    )
    st.plotly_chart(fig, key="image_map")
    if cov is not None:
        where = "the latent plane" if projection.kind == "latent" else "the test codes' top-2 PCA plane"
        st.caption(f"The star is the posterior mean on {where}; the rings are its 1σ and 2σ ellipses.")
    else:
        st.caption("The star is your image's code (an autoencoder has no posterior spread to draw).")


def show_neighbours(sel: Selection, reading: anomaly.ImageReading) -> None:
    nearest = anomaly.nearest_indices(sel.atlas["mu"], reading.mu, 8)
    pictures = sel.pictures(nearest)
    st.markdown("**The 8 nearest test images in latent space**")
    for j, i in enumerate(nearest):
        if j % 4 == 0:
            row = st.columns(4)
        row[j % 4].image(rendering.png_bytes(pictures[j], scale=3))
        row[j % 4].caption(f"{sel.class_names[sel.atlas['labels'][i]]} · #{i}")
    if sel.originals() is None:
        st.caption(missing_data_hint(sel.data))


st.title("Your image")
sel = current_selection()
if sel is None:
    st.stop()
st.caption(
    f"Bring {what_to_bring(sel)} and ask model **{sel.name}** what it makes of it, and whether it looks "
    "like what it was trained on."
)

auto_invert = st.session_state.get("image_auto_invert", True)
source = choose_source()
if source == "draw":
    prepared = drawn_input(sel, auto_invert)
left, right = st.columns([1, 2], gap="large")
with left:
    if source != "draw":
        prepared = image_input(sel, source, auto_invert)
    st.toggle(
        "Invert light backgrounds",
        value=True,
        key="image_auto_invert",
        help="The training images are light on dark, so an image whose border is light is inverted.",
    )
if prepared is None:
    st.stop()

reading = anomaly.read_image(sel.model, prepared.pixels, anomaly.complexity_fit(sel.atlas))
with right:
    inp, rec = st.columns(2)
    inp.markdown("**The model's input**")
    inp.image(rendering.png_bytes(prepared.pixels, scale=SCALE))
    rec.markdown("**Its reconstruction**")
    rec.image(rendering.png_bytes(reading.reconstruction, scale=SCALE))
    show_verdict(sel, reading)

show_steps(prepared)
st.divider()
map_col, near_col = st.columns([3, 2], gap="large")
with map_col:
    show_map(sel, reading)
with near_col:
    show_neighbours(sel, reading)
