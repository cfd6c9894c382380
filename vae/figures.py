"""Plotly figures and image encoders of the explorer, importable without Streamlit.

Images are float arrays in [0, 1] (pixel probabilities) or uint8, shape (28, 28); grids of images are
(rows, cols, 28, 28). Map coordinates are 2-D: the latent code itself for z = 2, a projection otherwise.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

CLASS_COLORS = (
    "#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B",
    "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D", "#79706E",
)  # fmt: skip
"""One calm colour per class (Vega's Tableau-10 order)."""

CROSSHAIR_COLOR = "#111111"
PATH_COLOR = "#d62728"


# ---------------------------------------------------------------------------------------------------------------
# Image encoding
# ---------------------------------------------------------------------------------------------------------------


def to_uint8(image: np.ndarray, invert: bool = False) -> np.ndarray:
    """Pixels as uint8 (0 black, 255 white); `invert` draws ink dark on white paper."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return 255 - image if invert else image


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor, so pixels stay crisp in the browser."""
    return np.repeat(np.repeat(np.asarray(image), factor, axis=-2), factor, axis=-1)


def mosaic(images: np.ndarray, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """One image from a grid (rows, cols, h, w) or a row (n, h, w) of images, `pad` pixels between tiles."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    rows, cols, h, w = images.shape
    fill = pad_value if images.dtype != np.uint8 else int(round(pad_value * 255))
    out = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad), fill, dtype=images.dtype)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[r, c]
    return out


def png_bytes(image: np.ndarray, scale: int = 1, invert: bool = False) -> bytes:
    """A greyscale image (h, w) as PNG bytes, enlarged `scale` times."""
    buf = io.BytesIO()
    Image.fromarray(upscale(to_uint8(image, invert), scale)).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, scale: int = 4, duration_ms: int = 120, bounce: bool = True) -> bytes:
    """Frames (n, h, w) as a looping animated GIF; `bounce` plays forward then back."""
    frames = [upscale(to_uint8(f), scale) for f in np.asarray(frames)]
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    pil = [Image.fromarray(f, mode="L") for f in frames]
    buf = io.BytesIO()
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI (Plotly layout images; images shown without a second request)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------------------------------------------------------
# The latent map
# ---------------------------------------------------------------------------------------------------------------

CLICK_GRID_NAME = "click grid"
"""Name of the invisible trace that makes every spot of the map clickable."""


def class_traces(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    indices: np.ndarray | None = None,
    marker_size: float = 4.0,
    opacity: float = 0.55,
) -> list[go.Scattergl]:
    """One WebGL scatter trace per class, named by the class; customdata holds each point's index."""
    coords = np.asarray(coords, dtype=np.float32)
    labels = np.asarray(labels)
    indices = np.arange(len(coords)) if indices is None else np.asarray(indices)
    traces = []
    for c, name in enumerate(class_names):
        mask = labels == c
        traces.append(
            go.Scattergl(
                x=coords[mask, 0],
                y=coords[mask, 1],
                mode="markers",
                name=str(name),
                legendgroup=str(name),
                customdata=indices[mask],
                marker=dict(size=marker_size, color=CLASS_COLORS[c % len(CLASS_COLORS)], opacity=opacity),
                hovertemplate=f"<b>{name}</b> · test image %{{customdata}}<extra></extra>",
            )
        )
    return traces


def click_grid_trace(x_range: tuple[float, float], y_range: tuple[float, float], n: int = 70) -> go.Scattergl:
    """An invisible dense grid of points: Plotly only reports clicks on points, so this makes empty space clickable."""
    gx, gy = np.meshgrid(np.linspace(*x_range, n), np.linspace(*y_range, n))
    invisible = dict(marker=dict(opacity=0))
    return go.Scattergl(
        x=gx.ravel().astype(np.float32),
        y=gy.ravel().astype(np.float32),
        mode="markers",
        name=CLICK_GRID_NAME,
        showlegend=False,
        hoverinfo="none",
        marker=dict(size=6, opacity=0, color="#000"),
        selected=invisible,
        unselected=invisible,
    )


def crosshair_trace(point: Sequence[float], name: str = "decoded point") -> go.Scattergl:
    """A ring marking the point being decoded (WebGL, so it is drawn above the WebGL points)."""
    return go.Scattergl(
        x=[float(point[0])],
        y=[float(point[1])],
        mode="markers",
        name=name,
        showlegend=False,
        marker=dict(symbol="circle-open", size=16, line=dict(width=2.5), color=CROSSHAIR_COLOR),
        hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
    )


def crosshair_shapes(point: Sequence[float]) -> list[dict]:
    """Thin lines across the whole plot through `point`."""
    line = dict(color=CROSSHAIR_COLOR, width=1, dash="dot")
    x, y = float(point[0]), float(point[1])
    return [
        dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line=line, layer="above"),
        dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=y, y1=y, line=line, layer="above"),
    ]


def highlight_trace(coords: np.ndarray, name: str = "selected") -> go.Scattergl:
    """Rings around selected points (thinner when there are many)."""
    coords = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
    few = len(coords) <= 40
    return go.Scattergl(
        x=coords[:, 0],
        y=coords[:, 1],
        mode="markers",
        name=name,
        showlegend=False,
        hoverinfo="skip",
        marker=dict(
            symbol="circle-open", size=11 if few else 6, color=CROSSHAIR_COLOR, line=dict(width=1.5 if few else 0.8)
        ),
    )


def path_trace(coords: np.ndarray, name: str = "path", color: str = PATH_COLOR) -> go.Scattergl:
    """An interpolation path: a line through the steps, the two ends marked larger."""
    coords = np.asarray(coords, dtype=np.float32)
    sizes = np.full(len(coords), 6.0)
    sizes[[0, -1]] = 13.0
    return go.Scattergl(
        x=coords[:, 0],
        y=coords[:, 1],
        mode="lines+markers",
        name=name,
        line=dict(color=color, width=2),
        marker=dict(size=sizes, color=color, line=dict(width=1, color="white")),
        hovertemplate=f"{name} step %{{pointNumber}}<extra></extra>",
    )


def tile_images(images: np.ndarray, centers: np.ndarray, sizes: np.ndarray, opacity: float = 0.85) -> list[dict]:
    """Plotly layout images: decoded tile (rows, cols, h, w) at map point centers[r, c] with size sizes[r, c]."""
    images = np.asarray(images)
    out = []
    for r in range(images.shape[0]):
        for c in range(images.shape[1]):
            out.append(
                dict(
                    source=data_uri(png_bytes(images[r, c], invert=True)),
                    xref="x",
                    yref="y",
                    x=float(centers[r, c, 0]),
                    y=float(centers[r, c, 1]),
                    sizex=float(sizes[r, c, 0]),
                    sizey=float(sizes[r, c, 1]),
                    xanchor="center",
                    yanchor="middle",
                    sizing="stretch",
                    layer="below",
                    opacity=opacity,
                )
            )
    return out


def latent_map_figure(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    indices: np.ndarray | None = None,
    crosshair: Sequence[float] | None = None,
    selected: np.ndarray | None = None,
    click_grid: bool = True,
    tiles: list[dict] | None = None,
    extra_traces: Sequence[go.BaseTraceType] = (),
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    equal_aspect: bool = True,
    height: int = 520,
    marker_size: float = 4.0,
    opacity: float = 0.55,
    title: str | None = None,
    class_legend: bool = True,
) -> go.Figure:
    """The latent map: codes as WebGL points coloured by class (names in the legend), with optional overlays.

    `crosshair` marks a point; `selected` (k, 2) rings points; `click_grid` makes empty space clickable;
    `tiles` are layout images (see `tile_images`); `extra_traces` are drawn on top (e.g. a user's image; a
    go.Scatter is turned into go.Scattergl, since WebGL points would cover an SVG trace).
    """
    coords = np.asarray(coords, dtype=np.float32)
    x_range = x_range or padded_range(coords[:, 0])
    y_range = y_range or padded_range(coords[:, 1])
    fig = go.Figure()
    if click_grid:
        fig.add_trace(click_grid_trace(x_range, y_range))
    for trace in class_traces(coords, labels, class_names, indices, marker_size, opacity):
        fig.add_trace(trace.update(showlegend=class_legend))
    if selected is not None and len(selected):
        fig.add_trace(highlight_trace(selected))
    for trace in extra_traces:
        fig.add_trace(drawn_on_top(trace))
    if crosshair is not None:
        fig.add_trace(crosshair_trace(crosshair))
        fig.update_layout(shapes=crosshair_shapes(crosshair))
    fig.update_layout(
        height=height,
        margin=dict(l=45, r=10, t=36 if title else 10, b=40),
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        legend=dict(itemsizing="constant", title=None, tracegroupgap=2, font=dict(size=12)),
        hovermode="closest",
        images=tiles or [],
        plot_bgcolor="white",
        uirevision="latent-map",
    )
    axis = dict(showgrid=True, gridcolor="#eeeeee", zeroline=True, zerolinecolor="#dddddd", showline=False)
    fig.update_xaxes(title=axis_titles[0], range=list(x_range), **axis)
    fig.update_yaxes(title=axis_titles[1], range=list(y_range), **axis)
    if equal_aspect:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def drawn_on_top(trace: go.BaseTraceType) -> go.BaseTraceType:
    """A go.Scatter redrawn as go.Scattergl: WebGL points cover SVG traces, so an SVG overlay would hide under them."""
    if not isinstance(trace, go.Scatter):
        return trace
    props = trace.to_plotly_json()
    props.pop("type", None)
    try:
        return go.Scattergl(**props)
    except ValueError:  # a property WebGL lacks (e.g. fill='tonexty'): keep the SVG trace
        return trace


def padded_range(values: np.ndarray, pad: float = 0.05, quantile: float = 0.0) -> tuple[float, float]:
    """(low, high) of values widened by `pad` of their span; `quantile` trims outliers from each side first."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(values, [quantile, 1 - quantile]) if quantile else (values.min(), values.max())
    span = max(hi - lo, 1e-6)
    return float(lo - pad * span), float(hi + pad * span)


def image_grid_figure(images: np.ndarray, height: int = 300) -> go.Figure:
    """A static greyscale mosaic as a Plotly figure (axes hidden), for places where a figure is wanted."""
    fig = go.Figure(go.Image(z=np.repeat(to_uint8(mosaic(images))[..., None], 3, axis=-1)))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --- Your image and anomaly figures ---

IN_COLOR = "#4C78A8"
OUT_COLOR = "#E45756"
USER_COLOR = "#111111"


def ellipse_points(mean: Sequence[float], cov: np.ndarray, k: float = 1.0, n: int = 73) -> np.ndarray:
    """Points (n, 2) on the k-sigma ellipse of a 2-D Gaussian (mean, covariance 2 x 2); the first point is repeated."""
    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, n)
    return (
        np.asarray(mean, dtype=np.float64)[:, None]
        + k * vectors @ (np.sqrt(np.clip(values, 0, None))[:, None] * circle)
    ).T


def posterior_traces(mean: Sequence[float], cov: np.ndarray | None, name: str = "your image") -> list[go.Scatter]:
    """A star at the posterior mean with its 1-sigma and 2-sigma ellipses (no ellipses without a covariance)."""
    traces: list[go.Scatter] = []
    if cov is not None:
        for k, dash in ((2.0, "dot"), (1.0, "solid")):
            ring = ellipse_points(mean, cov, k)
            traces.append(
                go.Scatter(
                    x=ring[:, 0],
                    y=ring[:, 1],
                    mode="lines",
                    name=f"{k:.0f}σ",
                    hoverinfo="skip",
                    line=dict(color=USER_COLOR, width=1.6, dash=dash),
                )
            )
    traces.append(
        go.Scatter(
            x=[float(mean[0])],
            y=[float(mean[1])],
            mode="markers",
            name=name,
            marker=dict(symbol="star", size=20, color=USER_COLOR, line=dict(width=1.5, color="white")),
            hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
        )
    )
    return traces


def score_histogram_figure(
    inliers: np.ndarray,
    outliers: np.ndarray,
    threshold: float,
    names: tuple[str, str],
    score_label: str,
    user_score: float | None = None,
    bins: int = 80,
    height: int = 330,
) -> go.Figure:
    """Overlaid histograms of the scores of two test splits (share of each split per bin), the threshold as a line."""
    inliers, outliers = np.asarray(inliers, dtype=np.float64), np.asarray(outliers, dtype=np.float64)
    both = np.concatenate([inliers, outliers])
    lo, hi = np.percentile(both, [0.2, 99.8])  # a few extreme scores would squeeze the rest into one bar
    lo, hi = min(lo, threshold), max(hi, threshold)
    if user_score is not None:
        lo, hi = min(lo, user_score), max(hi, user_score)
    edges = np.linspace(lo, hi + 1e-9 * max(abs(hi), 1), bins + 1)
    fig = go.Figure()
    for values, name, color in ((inliers, names[0], IN_COLOR), (outliers, names[1], OUT_COLOR)):
        counts, _ = np.histogram(values, bins=edges)  # the few scores outside [lo, hi] are left out
        fig.add_trace(
            go.Bar(
                x=(edges[:-1] + edges[1:]) / 2,
                y=counts / len(values),
                width=np.diff(edges),
                name=name,
                marker=dict(color=color, line=dict(width=0)),
                opacity=0.6,
                hovertemplate=f"{name}<br>%{{x:.3g}}: %{{y:.1%}}<extra></extra>",
            )
        )
    fig.add_vline(
        x=threshold,
        line=dict(color="#333", width=2, dash="dash"),
        annotation_text="threshold",
        annotation_position="top right",
    )
    if user_score is not None:
        fig.add_vline(
            x=user_score,
            line=dict(color=USER_COLOR, width=2),
            annotation_text="your image",
            annotation_position="bottom right",
        )
    fig.update_layout(
        barmode="overlay",
        bargap=0,
        height=height,
        margin=dict(l=50, r=10, t=50, b=45),
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.1, x=0),
        hovermode="closest",
    )
    fig.update_xaxes(title=score_label, showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(title="share of the split", tickformat=".0%", showgrid=True, gridcolor="#eeeeee")
    return fig


def thin_curve(x: np.ndarray, y: np.ndarray, step: float = 0.002) -> np.ndarray:
    """Indices of a monotone curve's points that move at least `step` from the last kept one (ends always kept)."""
    keep, last = [0], (x[0], y[0])
    for i in range(1, len(x) - 1):
        if abs(x[i] - last[0]) >= step or abs(y[i] - last[1]) >= step:
            keep.append(i)
            last = (x[i], y[i])
    return np.array(keep + [len(x) - 1]) if len(x) > 1 else np.array(keep)


def roc_figure(
    fpr: np.ndarray, tpr: np.ndarray, area: float, operating_point: tuple[float, float] | None = None, height: int = 330
) -> go.Figure:
    """The ROC curve (detection rate against false-alarm rate) with its AUROC and the current threshold's point."""
    keep = thin_curve(np.asarray(fpr), np.asarray(tpr))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", hoverinfo="skip", line=dict(color="#bbbbbb", dash="dot")
        )
    )
    fig.add_trace(
        go.Scatter(
            x=np.asarray(fpr)[keep],
            y=np.asarray(tpr)[keep],
            mode="lines",
            name=f"AUROC {area:.3f}",
            line=dict(color=IN_COLOR, width=2.5),
            hovertemplate="false alarms %{x:.1%}<br>detected %{y:.1%}<extra></extra>",
        )
    )
    if operating_point is not None:
        fig.add_trace(
            go.Scatter(
                x=[operating_point[0]],
                y=[operating_point[1]],
                mode="markers",
                name="threshold",
                marker=dict(size=11, color=OUT_COLOR, line=dict(width=1.5, color="white")),
                hovertemplate="threshold: false alarms %{x:.1%}, detected %{y:.1%}<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin=dict(l=50, r=10, t=30, b=45),
        plot_bgcolor="white",
        legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"),
    )
    fig.update_xaxes(
        title="false-alarm rate (in-distribution flagged)",
        range=[0, 1],
        tickformat=".0%",
        showgrid=True,
        gridcolor="#eeeeee",
        constrain="domain",
    )
    fig.update_yaxes(
        title="detection rate (other dataset flagged)",
        range=[0, 1.02],
        tickformat=".0%",
        showgrid=True,
        gridcolor="#eeeeee",
    )
    return fig


def complexity_figure(
    in_bits: tuple[np.ndarray, np.ndarray],
    out_bits: tuple[np.ndarray, np.ndarray],
    line: tuple[float, float],
    names: tuple[str, str],
    max_points: int = 2000,
    height: int = 360,
) -> go.Figure:
    """Negative log-likelihood against compressed length (both in bits) for two splits, with the fitted line.

    `in_bits` and `out_bits` are (complexity, nll) pairs; `line` is (intercept, slope); each split is
    subsampled evenly to `max_points`.
    """
    fig = go.Figure()
    xs = []
    for (complexity, nll), name, color in ((in_bits, names[0], IN_COLOR), (out_bits, names[1], OUT_COLOR)):
        keep = np.linspace(0, len(complexity) - 1, min(max_points, len(complexity))).astype(int)
        xs.append(np.asarray(complexity)[keep])
        fig.add_trace(
            go.Scattergl(
                x=np.asarray(complexity)[keep],
                y=np.asarray(nll)[keep],
                mode="markers",
                name=name,
                marker=dict(size=4, color=color, opacity=0.45),
                hovertemplate=f"{name}<br>PNG %{{x:.0f}} bits, -log p %{{y:.0f}} bits<extra></extra>",
            )
        )
    x = np.linspace(min(v.min() for v in xs), max(v.max() for v in xs), 2)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=line[0] + line[1] * x,
            mode="lines",
            name="expected from complexity",
            line=dict(color="#333", width=2, dash="dash"),
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        height=height,
        margin=dict(l=55, r=10, t=30, b=45),
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    fig.update_xaxes(title="compressed length (PNG bits)", showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(title="negative log-likelihood (bits)", showgrid=True, gridcolor="#eeeeee")
    return fig
