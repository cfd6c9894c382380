"""Plotly figures of the explorer, importable without Streamlit, in one shared style (`styled`).

Map coordinates are 2-D (N, 2): the latent code itself for z = 2, a projection otherwise. Decoded images are
float arrays in [0, 1], (28, 28) each; see `vae.rendering` for turning them into pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from vae.holes import DensityGrid
from vae.rendering import data_uri, png_bytes

CLASS_COLORS = (
    "#4C78A8",
    "#F58518",
    "#E45756",
    "#72B7B2",
    "#54A24B",
    "#EECA3B",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#79706E",
)
"""One calm colour per class (Vega's Tableau-10 order)."""

CROSSHAIR_COLOR = "#111111"
ATTRIBUTE_COLORSCALE = "Viridis"  # the map coloured by a measured attribute
PATH_COLOR = "#d62728"
GRID_COLOR = "#eeeeee"
MARGIN = dict(l=50, r=10, t=30, b=45)  # px around the plot: room for the axis titles (a `margin=` changes sides)


def styled(fig: go.Figure, height: int, **layout) -> go.Figure:
    """`fig` in the explorer's one look: `height` px, white plot, light grid, MARGIN; `layout` adds to it."""
    margin = MARGIN | layout.pop("margin", {})
    fig.update_layout(height=height, margin=margin, plot_bgcolor="white", **layout)
    fig.update_xaxes(showgrid=True, gridcolor=GRID_COLOR)
    fig.update_yaxes(showgrid=True, gridcolor=GRID_COLOR)
    return fig


# ---------------------------------------------------------------------------------------------------------------
# The latent map
# ---------------------------------------------------------------------------------------------------------------


def class_traces(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    marker_size: float = 4.0,
    opacity: float = 0.55,
    svg: bool = False,
) -> list[go.Scattergl | go.Scatter]:
    """One scatter trace per class, named by the class; customdata holds each point's index in coords (N, 2).

    WebGL points with a hover label each; with `svg`, SVG points without hover (a few thousand points redrawn every
    few seconds, which a browser without a GPU draws far more cheaply as SVG than as WebGL: bench/README.md)."""
    coords = np.asarray(coords, dtype=np.float32)
    labels = np.asarray(labels)
    indices = np.arange(len(coords))
    traces = []
    for c, name in enumerate(class_names):
        mask = labels == c
        scatter, hover = (
            (go.Scatter, dict(hoverinfo="skip"))
            if svg
            else (go.Scattergl, dict(hovertemplate=f"<b>{name}</b> · test image %{{customdata}}<extra></extra>"))
        )
        traces.append(
            scatter(
                x=coords[mask, 0],
                y=coords[mask, 1],
                mode="markers",
                name=str(name),
                legendgroup=str(name),
                customdata=indices[mask],
                marker=dict(size=marker_size, color=CLASS_COLORS[c % len(CLASS_COLORS)], opacity=opacity),
                **hover,
            )
        )
    return traces


def attribute_trace(
    coords: np.ndarray, values: np.ndarray, title: str, marker_size: float = 4.0, opacity: float = 0.55
) -> go.Scattergl:
    """All points (N, 2) in one WebGL trace coloured by `values` (N,) on a continuous scale (clipped to the 1st–99th
    percentile) with a colour bar titled `title`; customdata holds each point's index, as in `class_traces`."""
    coords = np.asarray(coords, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    low, high = (float(v) for v in np.percentile(values, [1, 99])) if len(values) else (0.0, 1.0)
    return go.Scattergl(
        x=coords[:, 0],
        y=coords[:, 1],
        mode="markers",
        name=title,
        showlegend=False,
        customdata=np.arange(len(coords)),
        marker=dict(
            size=marker_size,
            color=values,
            colorscale=ATTRIBUTE_COLORSCALE,
            cmin=low,
            cmax=max(high, low + 1e-6),
            opacity=opacity,
            colorbar=dict(title=dict(text=title, side="right"), thickness=12, len=0.9),
        ),
        hovertemplate=f"test image %{{customdata}} · {title} %{{marker.color:.2f}}<extra></extra>",
    )


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
    tiles: list[dict] | None = None,
    extra_traces: Sequence[go.BaseTraceType] = (),
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    equal_aspect: bool = True,
    height: int = 520,
    marker_size: float = 4.0,
    opacity: float = 0.55,
    class_legend: bool = True,
    color_by: tuple[str, np.ndarray] | None = None,
) -> go.Figure:
    """The latent map: codes (N, 2) as WebGL points coloured by labels (N,) (class names in the legend), or with
    `color_by` (title, values (N,)) by those values on a continuous scale (`attribute_trace`).

    `tiles` are layout images (see `tile_images`); `extra_traces` are drawn on top (e.g. a user's image; a
    go.Scatter is turned into go.Scattergl, since WebGL points would cover an SVG trace).
    """
    coords = np.asarray(coords, dtype=np.float32)
    x_range = x_range or padded_range(coords[:, 0])
    y_range = y_range or padded_range(coords[:, 1])
    fig = go.Figure()
    if color_by is not None:
        fig.add_trace(attribute_trace(coords, color_by[1], color_by[0], marker_size, opacity))
    else:
        for trace in class_traces(coords, labels, class_names, marker_size, opacity):
            fig.add_trace(trace.update(showlegend=class_legend))
    for trace in extra_traces:
        fig.add_trace(drawn_on_top(trace))
    styled(
        fig,
        height,
        margin=dict(l=45, t=10, b=40),
        legend=dict(itemsizing="constant", title=None, tracegroupgap=2, font=dict(size=12)),
        hovermode="closest",
        images=tiles or [],
        uirevision="latent-map",
    )
    axis = dict(zeroline=True, zerolinecolor="#dddddd", showline=False)
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
    outliers: np.ndarray | None,
    threshold: float,
    names: tuple[str, ...],
    score_label: str,
    user_score: float | None = None,
    bins: int = 80,
    height: int = 330,
) -> go.Figure:
    """Overlaid histograms of the scores of two test splits (share of each split per bin), the threshold as a line;
    `outliers` None: the model's own split alone."""
    splits = [(np.asarray(inliers, dtype=np.float64), names[0], IN_COLOR)]
    if outliers is not None:
        splits.append((np.asarray(outliers, dtype=np.float64), names[1], OUT_COLOR))
    both = np.concatenate([values for values, _, _ in splits])
    lo, hi = np.percentile(both, [0.2, 99.8])  # a few extreme scores would squeeze the rest into one bar
    lo, hi = min(lo, threshold), max(hi, threshold)
    if user_score is not None:
        lo, hi = min(lo, user_score), max(hi, user_score)
    edges = np.linspace(lo, hi + 1e-9 * max(abs(hi), 1), bins + 1)
    fig = go.Figure()
    for values, name, color in splits:
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
    styled(
        fig,
        height,
        margin=dict(t=50),
        barmode="overlay",
        bargap=0,
        legend=dict(orientation="h", yanchor="bottom", y=1.1, x=0),
        hovermode="closest",
    )
    fig.update_xaxes(title=score_label)
    fig.update_yaxes(title="share of the split", tickformat=".0%")
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
    styled(fig, height, legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(
        title="false-alarm rate (in-distribution flagged)", range=[0, 1], tickformat=".0%", constrain="domain"
    )
    fig.update_yaxes(title="detection rate (other dataset flagged)", range=[0, 1.02], tickformat=".0%")
    return fig


def complexity_figure(
    in_bits: tuple[np.ndarray, np.ndarray],
    out_bits: tuple[np.ndarray, np.ndarray] | None,
    line: tuple[float, float],
    names: tuple[str, ...],
    max_points: int = 2000,
    height: int = 360,
) -> go.Figure:
    """Negative log-likelihood against compressed length (both in bits) for two splits, with the fitted line.

    `in_bits` and `out_bits` are (complexity, nll) pairs (`out_bits` None: the model's own split alone); `line` is
    (intercept, slope); each split is subsampled evenly to `max_points`.
    """
    fig = go.Figure()
    xs = []
    splits = [(in_bits, names[0], IN_COLOR)] + ([(out_bits, names[1], OUT_COLOR)] if out_bits is not None else [])
    for (complexity, nll), name, color in splits:
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
    styled(fig, height, margin=dict(l=55), legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    fig.update_xaxes(title="compressed length (PNG bits)")
    fig.update_yaxes(title="negative log-likelihood (bits)")
    return fig


# --- Training -----------------------------------------------------------------------------------------------------

RECON_COLOR = "#4C78A8"
KL_COLOR = "#E45756"


def loss_curve_figure(
    epochs: np.ndarray, recon: np.ndarray, kl: np.ndarray, beta: float, variational: bool = True, height: int = 380
) -> go.Figure:
    """The training loss split in two panels over epochs (P,): reconstruction on top, KL (and β·KL when β ≠ 1)
    below, both in nats per image; an autoencoder (no KL) gets the top panel alone."""
    from plotly.subplots import make_subplots

    rows = 2 if variational else 1
    titles = ("reconstruction", "KL" if beta == 1 else "KL and β·KL")[:rows]
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=titles)
    line = dict(mode="lines", hovertemplate="epoch %{x:.2f}: %{y:.2f} nats<extra>%{fullData.name}</extra>")
    fig.add_trace(go.Scatter(x=epochs, y=recon, name="reconstruction", line=dict(color=RECON_COLOR), **line), 1, 1)
    if variational:
        fig.add_trace(go.Scatter(x=epochs, y=kl, name="KL", line=dict(color=KL_COLOR), **line), 2, 1)
        if beta != 1:
            scaled = np.asarray(kl) * beta
            fig.add_trace(
                go.Scatter(x=epochs, y=scaled, name="β·KL", line=dict(color=KL_COLOR, dash="dot"), **line), 2, 1
            )
    styled(fig, height, margin=dict(t=25), showlegend=variational and beta != 1, uirevision="loss-curve")
    fig.update_annotations(font_size=13)
    fig.update_xaxes(title="epoch", row=rows, col=1)
    fig.update_yaxes(title="nats per image")
    fig.update_yaxes(type="log", row=1, col=1)  # the first steps' losses are several times the later ones
    return fig


def live_map_figure(
    coords: np.ndarray, labels: np.ndarray, class_names: Sequence[str], axis_titles: tuple[str, str], height: int = 380
) -> go.Figure:
    """The latent map of a run in training: codes (N, 2) coloured by labels (N,), a few thousand points as SVG
    (`class_traces`)."""
    coords = np.asarray(coords, dtype=np.float32)
    fig = go.Figure(class_traces(coords, labels, class_names, opacity=0.7, svg=True))
    styled(fig, height, margin=dict(l=45, t=10, b=40), legend=dict(itemsizing="constant", font=dict(size=12)))
    fig.update_xaxes(title=axis_titles[0], range=list(padded_range(coords[:, 0])), zeroline=False)
    fig.update_yaxes(title=axis_titles[1], range=list(padded_range(coords[:, 1])), zeroline=False)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


# --- The prior's holes ---

HOLE_LINE_COLOR = "#111111"
CODE_DOT_COLOR = "#555555"
LOG_RATIO_LIMIT = 6.0  # the colour scale spans log q/p in ±6 (q 400 times above or below p); beyond is saturated


def holes_figure(
    grid: DensityGrid,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    codes: np.ndarray | None = None,
    height: int = 430,
    floor: float = 1e-3,
) -> go.Figure:
    """The prior's holes in a 2-D latent space: log q(z)/p(z) per cell of `grid` (a `vae.holes.DensityGrid`) as a
    heatmap, red where the prior puts more mass than q (the holes, q < p/10, outlined in black), blue where q puts
    more; cells where both densities are below `floor` times the prior's peak are left blank (nothing to compare).
    `codes` (N, 2), when given, are drawn as small dots; the axes are the map's ranges."""
    peak = float(grid.p.max())
    shown = (grid.p > floor * peak) | (grid.q > floor * peak)
    ratio = np.where(shown, -grid.log_ratio, np.nan)
    holes = ((grid.holes > 0) & (grid.p > floor * peak)).astype(np.float32)
    centers = np.round(grid.centers, 4)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=centers,
            y=centers,
            z=np.round(ratio, 2),
            zmid=0,
            zmin=-LOG_RATIO_LIMIT,
            zmax=LOG_RATIO_LIMIT,
            colorscale="RdBu",
            colorbar=dict(title=dict(text="log q/p", side="right"), thickness=12, len=0.8),
            hovertemplate="z₁ %{x:.2f}, z₂ %{y:.2f}<br>log q(z)/p(z) %{z:.2f}<extra></extra>",
            name="log q/p",
        )
    )
    if holes.any():
        fig.add_trace(
            go.Contour(
                x=centers,
                y=centers,
                z=holes,
                contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                line=dict(color=HOLE_LINE_COLOR, width=1.5),
                showscale=False,
                hoverinfo="skip",
                name="holes (q < p/10)",
                showlegend=True,
            )
        )
    if codes is not None:
        codes = np.asarray(codes, dtype=np.float32)
        fig.add_trace(
            go.Scattergl(
                x=codes[:, 0],
                y=codes[:, 1],
                mode="markers",
                marker=dict(size=2, color=CODE_DOT_COLOR, opacity=0.35),
                hoverinfo="skip",
                name="test codes",
            )
        )
    styled(
        fig,
        height,
        margin=dict(l=45, t=10, b=40, r=10),
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom", font=dict(size=12)),
        hovermode="closest",
    )
    fig.update_xaxes(title="z₁", range=list(x_range), showgrid=False, zeroline=False)
    fig.update_yaxes(title="z₂", range=list(y_range), showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1)
    return fig


# --- The rate–distortion plane ---

SWEEP_COLOR = "#4C78A8"
OTHER_COLOR = "#9D755D"
ISO_COLOR = "#bbbbbb"
LIMIT_COLOR = "#d62728"


def _model_trace(points: Sequence, name: str, color: str, symbol: str, labels: bool = False) -> go.Scatter:
    """Models as points of the rate–distortion plane, their names as customdata (a click opens one); an
    autoencoder's point sits at the right edge (`x` set by the caller), its rate infinite."""
    finite = all(np.isfinite(p.rate) for p in points)
    rate = "%{x:.2f} nats" if finite else "∞"
    return go.Scatter(
        x=[p.rate for p in points],
        y=[p.distortion for p in points],
        mode="lines+markers+text" if labels else "markers",
        text=[f"β={p.beta:g}" for p in points] if labels else None,
        textposition="top right",
        marker=dict(size=11, color=color, symbol=symbol, line=dict(width=1, color="white")),
        line=dict(color=color, width=1.5),
        customdata=[p.name for p in points],
        hovertemplate=f"<b>%{{customdata}}</b><br>rate {rate}<br>distortion %{{y:.2f}} nats"
        "<extra>click: open on the latent map</extra>",
        name=name,
    )


def _nice_step(span: float, lines: int = 8) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `lines` pieces."""
    raw = max(span, 1e-9) / lines
    power = 10 ** np.floor(np.log10(raw))
    return float(min((m * power for m in (1, 2, 5, 10)), key=lambda step: abs(step - raw)))


def rate_distortion_figure(
    points: Sequence,
    sweep: set[str],
    collapse: float | None,
    chosen: str | None = None,
    zoom: bool = True,
    height: int = 460,
) -> go.Figure:
    """The rate–distortion plane (Alemi et al. 2018): rate R (test KL) across, distortion D (test reconstruction)
    up, nats per image, with the lines of equal −ELBO (D + R = c, slope −1).

    points: the models (`vae.tradeoff.RDPoint`); those named in `sweep` are the β sweep: its VAEs joined in order of
    β with β = 1 starred, its autoencoder's D drawn as the limit R → ∞ (a dotted line); every autoencoder sits as a
    marker at the right edge. collapse: D at R = 0 (the decoder ignores z), or None. Every model's point carries its
    name as customdata, so a click can open it; `chosen` is ringed. `zoom` frames the sweep (other models may fall
    outside, and an off-view collapse limit becomes an arrow at the top); otherwise every point is in view.
    """
    vaes = [p for p in points if p.kind == "vae"]
    sweep_vaes = sorted((p for p in vaes if p.name in sweep), key=lambda p: p.beta)
    others = [p for p in vaes if p.name not in sweep]
    aes = [p for p in points if p.kind == "ae"]
    sweep_aes = [p for p in aes if p.name in sweep]
    framed = [*sweep_vaes, *sweep_aes] if zoom and sweep_vaes else [*vaes, *aes]
    rates = [p.rate for p in framed if np.isfinite(p.rate)] or [1.0]
    distortions = [p.distortion for p in framed] or [0.0]
    if collapse is not None and not (zoom and sweep_vaes):
        distortions.append(collapse)
    r_max = max(rates) * 1.2 + 0.5
    d_lo, d_hi = min(distortions), max(distortions)
    pad = 0.08 * (d_hi - d_lo) + 1.0
    y_range = [d_lo - pad, d_hi + 2 * pad]
    fig = go.Figure()
    step = _nice_step(y_range[1] + r_max - y_range[0])
    levels = np.arange(np.floor(y_range[0] / step) * step, y_range[1] + r_max + step, step)
    for i, level in enumerate(levels):
        fig.add_trace(
            go.Scatter(
                x=[0, r_max],
                y=[level, level - r_max],
                mode="lines",
                line=dict(color=ISO_COLOR, width=1, dash="dash"),
                hoverinfo="skip",
                name="equal −ELBO (D + R)",
                legendgroup="iso",
                showlegend=i == 0,
            )
        )
    for p in sweep_aes:
        fig.add_hline(y=p.distortion, line=dict(color=LIMIT_COLOR, width=1, dash="dot"))
        fig.add_annotation(
            x=r_max,
            y=p.distortion,
            xanchor="right",
            yanchor="top",
            text=f"autoencoder limit, R → ∞: D = {p.distortion:.1f}",
            showarrow=False,
            font=dict(color=LIMIT_COLOR, size=12),
        )
    if aes:
        trace = _model_trace(aes, "autoencoders (R = ∞)", LIMIT_COLOR, "triangle-right")
        fig.add_trace(trace.update(x=[r_max] * len(aes)))
    if collapse is not None:
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[collapse],
                mode="markers",
                marker=dict(size=12, color=LIMIT_COLOR, symbol="x"),
                hovertemplate="collapse limit: R = 0, D = %{y:.1f} nats (the mean image, whatever z)<extra></extra>",
                name="collapse limit (R → 0)",
            )
        )
        inside = collapse <= y_range[1]
        fig.add_annotation(
            x=0,
            y=collapse if inside else y_range[1],
            xanchor="left",
            yanchor="bottom" if inside else "top",
            showarrow=False,
            text=f"{'' if inside else '↑ '}collapse limit, R → 0: D = {collapse:.1f} (the decoder ignores z)",
            font=dict(color=LIMIT_COLOR, size=12),
        )
    if others:
        fig.add_trace(_model_trace(others, "other models", OTHER_COLOR, "diamond"))
    if sweep_vaes:
        fig.add_trace(_model_trace(sweep_vaes, "β sweep", SWEEP_COLOR, "circle", labels=True))
    for p in sweep_vaes:
        if p.beta == 1.0:
            fig.add_trace(
                go.Scatter(
                    x=[p.rate],
                    y=[p.distortion],
                    mode="markers",
                    marker=dict(size=20, color="#EECA3B", symbol="star", line=dict(width=1, color="#555555")),
                    customdata=[p.name],
                    hovertemplate=f"<b>%{{customdata}}</b><br>β = 1: the true ELBO, −ELBO {p.neg_elbo:.1f} nats"
                    "<extra>click: open on the latent map</extra>",
                    name="β = 1 (the ELBO itself)",
                )
            )
    for p in points:
        if p.name == chosen:
            fig.add_trace(
                go.Scatter(
                    x=[r_max if p.kind == "ae" else p.rate],
                    y=[p.distortion],
                    mode="markers",
                    marker=dict(size=24, color="rgba(0,0,0,0)", line=dict(width=2, color=CROSSHAIR_COLOR)),
                    hoverinfo="skip",
                    name="the sidebar's model",
                )
            )
    styled(
        fig,
        height,
        margin=dict(t=10),
        legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom", font=dict(size=12)),
        hovermode="closest",
    )
    fig.update_xaxes(title="rate R = KL(q(z|x) ‖ p(z)), nats per image", range=[-0.04 * r_max, r_max * 1.03])
    fig.update_yaxes(title="distortion D, nats per image", range=y_range)
    return fig


def kl_per_dimension_figure(kl: np.ndarray, activity: np.ndarray, threshold: float = 0.01, height: int = 300):
    """KL per latent dimension (z,), nats, as bars ordered as the code's dimensions, those whose posterior mean
    barely varies (activity (z,) ≤ threshold: unused by the encoder) in grey."""
    kl = np.asarray(kl, dtype=np.float64)
    active = np.asarray(activity) > threshold
    fig = go.Figure(
        go.Bar(
            x=[f"z{d + 1}" for d in range(len(kl))],
            y=np.round(kl, 3),
            marker_color=[SWEEP_COLOR if a else "#cccccc" for a in active],
            customdata=np.round(np.asarray(activity, dtype=np.float64), 4),
            hovertemplate="%{x}: KL %{y:.3f} nats<br>variance of its mean %{customdata}<extra></extra>",
            name="KL",
        )
    )
    styled(fig, height, margin=dict(t=10), showlegend=False)
    fig.update_yaxes(title="KL, nats per image", rangemode="tozero")
    fig.update_xaxes(title="latent dimension (grey: unused)", showgrid=False)
    return fig
