"""Overview: what a VAE is, in a few sentences and one picture; links to each page; the chosen model's card."""

from __future__ import annotations

import streamlit as st

from pages.ui.cached import cached_prior_gap
from pages.ui.policy import current_policy
from pages.ui.selection import Selection, current_selection
from vae.models import activation_name

DIAGRAM = """
digraph vae {
  rankdir=LR; bgcolor="transparent"; nodesep=0.25; ranksep=0.35;
  node [shape=box, style="rounded,filled", fillcolor="#f4f6fa", color="#9aa5b8", fontname="Helvetica", fontsize=11];
  edge [color="#7a8499", arrowsize=0.7];
  x [label="image x\\n28×28", shape=plain, style=""];
  enc [label="encoder\\nq(z | x)"];
  mu [label="mean μ", fillcolor="#e6eefb"];
  lv [label="log-variance\\nlog σ²", fillcolor="#e6eefb"];
  eps [label="ε ~ N(0, I)", shape=plain, style=""];
  z [label="z = μ + σ · ε\\n(reparameterization)", fillcolor="#fdf1e3", color="#e0a458"];
  dec [label="decoder\\np(x | z)"];
  xh [label="reconstruction x̂", shape=plain, style=""];
  x -> enc; enc -> mu; enc -> lv; mu -> z; lv -> z; eps -> z [style=dashed]; z -> dec; dec -> xh;
}
"""

LINKS = [
    ("pages/map.py", "Latent map", ":material/scatter_plot:", "every test image at its code; decode any point"),
    ("pages/interpolate.py", "Interpolation", ":material/linear_scale:", "walk from one image's code to another's"),
    ("pages/compare.py", "VAE vs AE", ":material/compare:", "why the VAE's space is smoother, in numbers"),
    ("pages/elbo.py", "The ELBO's trade-off", ":material/balance:", "rate against distortion: slide β"),
    ("pages/image.py", "Your image", ":material/draw:", "draw or upload a digit and place it on the map"),
    ("pages/anomaly.py", "Anomaly detection", ":material/troubleshoot:", "what the model finds unlikely"),
]

METRICS = [  # card key, label, meaning
    ("neg_elbo", "−ELBO", "reconstruction + KL; lower is better"),
    ("iwae_nll", "−log p(x)", "importance-weighted estimate, tighter than the ELBO"),
    ("recon", "reconstruction", "expected −log p(x | z) under q(z | x)"),
    ("kl", "KL", "distance of the codes' clouds from the prior"),
    ("bce", "BCE", "cross-entropy of the image decoded from the mean code"),
    ("mse", "MSE", "mean squared pixel error of that image (pixels in [0, 1])"),
    ("active_units", "active units", "latent dimensions the encoder actually uses"),
]


def prior_gap_rows(gap: dict) -> list[tuple[str, str, str]]:
    """(label, value, meaning) of the prior gap's numbers (`vae.holes.prior_gap`): MMD², and KL for z = 2."""
    rows = [
        (
            "MMD²",
            f"{gap['mmd2']:.4f}",
            "kernel distance of the test codes' distribution q(z) from the prior N(0, I); about 0 when they match "
            "(the latent map's \"The prior's holes\" draws it)",
        )
    ]
    if "kl" in gap:
        rows.append(("KL(q(z) ‖ p(z))", f"{gap['kl']:.2f}", "the same gap in nats, on a grid (z = 2)"))
    return rows


def model_card(sel: Selection) -> None:
    card = sel.card
    metrics = card.get("metrics") or {}
    training = card.get("training") or {}
    model = card.get("model") or {}
    kind = "VAE" if model.get("kind") == "vae" else "Autoencoder"
    st.subheader("Model card", anchor=False)
    st.caption(
        f"**{card.get('name', '?')}** · {kind} · {str(model.get('arch', '?')).upper()}, "
        f"{activation_name(model.get('activation', 'relu'))} · "
        f"{model.get('latent_dim', '?')} latent dimensions · {training.get('epochs_done', '?')} epochs on "
        f"{card.get('dataset', '?')}; nats unless noted."
    )
    rows = [(label, metrics[key], meaning) for key, label, meaning in METRICS if metrics.get(key) is not None]
    gap = prior_gap_rows(cached_prior_gap(str(sel.folder)))  # measured on the atlas: not a card entry
    if not rows:
        st.info("This model's card has no test metrics yet; run `python -m vae.evaluate` on its folder.")
    lines = ["| test metric | per image |", "|---|--:|"]
    for label, value, _ in rows:
        text = f"{value:.0f}" if isinstance(value, int) else f"{value:.4f}" if abs(value) < 1 else f"{value:.1f}"
        lines.append(f"| {label} | {text} |")
    if rows:
        st.markdown("\n".join(lines))
    st.markdown("\n".join(["| prior gap | test codes |", "|---|--:|"] + [f"| {lbl} | {v} |" for lbl, v, _ in gap]))
    with st.expander("What the numbers mean"):
        meanings = [(label, meaning) for label, _, meaning in rows] + [(label, meaning) for label, _, meaning in gap]
        st.markdown("\n".join(f"- **{label}**: {meaning}" for label, meaning in meanings))


st.title("VAE Latent Explorer", anchor=False)
left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown(
        "A **variational autoencoder** learns to squeeze each 28×28 image into a few numbers, its *latent code*, "
        "and to draw the image back from them. The encoder does not give one code but a small Gaussian cloud: "
        "a mean μ and a log-variance log σ². Training samples a code from that cloud, z = μ + σ·ε, and asks the "
        "decoder to rebuild the image from it."
    )
    st.graphviz_chart(DIAGRAM, width="stretch")
    st.markdown(
        "It maximises the **evidence lower bound** (ELBO): reconstruct well, while keeping every cloud close "
        "to the prior N(0, I)."
    )
    st.latex(
        r"\log p(x) \;\ge\; \mathbb{E}_{q(z\mid x)}\big[\log p(x\mid z)\big] \;-\; "
        r"\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)"
    )
    st.markdown(
        "Because nearby codes must decode to the same image and all clouds are pulled towards one Gaussian, the "
        "VAE's latent space has **no holes and no cliffs**: every point decodes to something plausible and small "
        "steps make small changes. A plain **autoencoder** only has to reconstruct, so its codes scatter into "
        "islands with meaningless gaps between them."
    )
with right:
    st.subheader("Explore", anchor=False)
    for path, label, icon, text in LINKS:
        st.page_link(path, label=label, icon=icon, help=text)
    sel = current_selection()
    if sel is not None:
        model_card(sel)
    policy = current_policy()
    st.caption(policy.describe(), help="Set with VAE_MODE=personal|shared and its limits (docs/deploy.md).")
