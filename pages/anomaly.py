"""Anomaly detection: does a score separate the model's own test split from the other dataset's? Histograms, a
threshold at the 99th percentile, the detection rate, the ROC curve, and the known failure of likelihood scores."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages.ui.cached import cached_aurocs
from pages.ui.picker import shipped_models
from pages.ui.selection import Selection, current_selection
from pages.ui.state import anomaly_setting, remember_anomaly_setting
from vae import anomaly, figures

SHORT_NAMES = {"mse": "MSE", "bce": "BCE", "neg_elbo": "−ELBO", "corrected": "Corrected"}


def threshold_slider(sel: Selection, score: str, inliers: np.ndarray, outliers: np.ndarray | None) -> float:
    """A slider over the range of the scores (of both splits; `outliers` None: the own split alone), starting at the
    99th percentile of the in-distribution scores."""
    default = anomaly.threshold_at(inliers)
    setting = anomaly_setting(sel)
    start = setting.threshold if setting.chosen_on_page and setting.score == score else default
    both = inliers if outliers is None else np.concatenate([inliers, outliers])
    lo, hi = (float(v) for v in np.percentile(both, [0.1, 99.9]))
    lo, hi = min(lo, default, start), max(hi, default, start)
    step = (hi - lo) / 500
    key = f"anomaly_threshold_{sel.name}_{score}"

    def reset() -> None:
        st.session_state[key] = default

    cols = st.columns([4, 1], vertical_alignment="bottom")
    threshold = cols[0].slider(
        "Threshold: images scoring above it are flagged",
        min_value=lo,
        max_value=hi,
        value=float(np.clip(start, lo, hi)),
        step=step,
        format="%.4f" if hi - lo < 1 else "%.1f",
        key=key,
    )
    cols[1].button("99th percentile", on_click=reset, help="Back to 1 % false alarms on the model's own test split.")
    return threshold


def show_all_models(current: str) -> None:
    """AUROC of every score for every shipped model, the current one first."""
    rows = []
    for entry in sorted(shipped_models(), key=lambda e: (e.name != current, e.name)):
        aurocs = cached_aurocs(str(entry.folder))
        if aurocs:
            rows.append(
                {"Model": entry.name}
                | {short: f"{aurocs[k]:.3f}" if k in aurocs else "–" for k, short in SHORT_NAMES.items()}
            )
    if rows:
        st.dataframe(rows, hide_index=True)


st.title("Anomaly detection")
sel = current_selection()
if sel is None:
    st.stop()
own, other = sel.data.title, anomaly.other_dataset_title(sel.card, sel.atlas)
if other is None:
    st.caption(
        "The seed idea: a reconstruction error above a threshold marks an input as unlike the training data. Each "
        f"score is shown on model **{sel.name}**'s own {own} test split, with the threshold that flags 1 % of it."
    )
    st.info(anomaly.NO_OTHER_DATA, icon=":material/info:")
else:
    st.caption(
        "The seed idea: a reconstruction error above a threshold marks an input as unlike the training data. Each "
        f"score is tried on model **{sel.name}**'s own {own} test split and on the {other} test split, which it "
        "never saw: a good score puts the second far to the right of the first."
    )

scores = anomaly.available_scores(sel.atlas)
score = st.segmented_control(
    "Score", scores, default="corrected", key="anomaly_score", required=True, format_func=anomaly.SCORE_NAMES.get
)
inliers, outliers = anomaly.split_scores(sel.atlas, score) if other else (anomaly.scores_of(sel.atlas, score), None)
threshold = threshold_slider(sel, score, inliers, outliers)
remember_anomaly_setting(sel, score, threshold)
false_alarms = anomaly.flagged_rate(inliers, threshold)

metrics = st.columns(4)
metrics[0].metric("Threshold", f"{threshold:.4g}", help=f"In {anomaly.SCORE_UNITS[score]}.")
metrics[1].metric(f"False alarms ({own})", f"{false_alarms:.1%}")
label = f"{anomaly.SCORE_NAMES[score]} ({anomaly.SCORE_UNITS[score]})"
names = (f"{own} test (own)", f"{other} test (other)")
if outliers is None:
    st.plotly_chart(figures.score_histogram_figure(inliers, None, threshold, names, label), key="anomaly_hist")
else:
    roc, area = anomaly.roc_curve(inliers, outliers), anomaly.auroc(inliers, outliers)
    detected = anomaly.flagged_rate(outliers, threshold)
    metrics[2].metric(f"Detected ({other})", f"{detected:.1%}")
    metrics[3].metric(
        "AUROC",
        f"{area:.3f}",
        help="Chance that an image of the other dataset scores above one of the "
        "model's own: 1 is perfect, 0.5 is chance, below 0.5 is backwards.",
    )
    hist, curve = st.columns([3, 2], gap="medium")
    hist.plotly_chart(figures.score_histogram_figure(inliers, outliers, threshold, names, label), key="anomaly_hist")
    curve.plotly_chart(figures.roc_figure(roc.fpr, roc.tpr, area, (false_alarms, detected)), key="anomaly_roc")

st.subheader("When likelihood gets it backwards")
likelihood = anomaly.likelihood_key(sel.atlas)
aurocs = anomaly.atlas_aurocs(sel.atlas)
st.markdown(
    "A model trained on Fashion-MNIST gives MNIST digits a *higher* likelihood than its own clothes (Nalisnick et "
    "al., 2019, *Do deep generative models know what they don't know?*): a digit is mostly flat black background, "
    "which any decoder predicts cheaply, so likelihood measures how simple an image is as much as how familiar. "
    "The **complexity-corrected** score subtracts the likelihood that the model's own test images of the same "
    "compressed length (PNG bits) get, in the spirit of Serrà et al. (2020), so only the unexplained part is left."
)
if aurocs and aurocs[likelihood] < 0.5:
    st.warning(
        f"This model shows the failure: {anomaly.SCORE_NAMES[likelihood]} has AUROC {aurocs[likelihood]:.3f}, "
        f"below chance — it rates {other} images as *more* typical than {own} ones. The corrected score: "
        f"{aurocs['corrected']:.3f}.",
        icon=":material/warning:",
    )
elif aurocs:  # without another dataset there is nothing to compare (said at the top)
    st.info(
        f"For this model {anomaly.SCORE_NAMES[likelihood]} has AUROC {aurocs[likelihood]:.3f} and the corrected "
        f"score {aurocs['corrected']:.3f}; pick a Fashion-MNIST model in the sidebar to see the failure.",
        icon=":material/info:",
    )

fit = anomaly.complexity_fit(sel.atlas)
scatter, table = st.columns([1, 1], gap="large")
with scatter:
    other_bits = None
    if other is not None:
        other_bits = (sel.atlas["ood_complexity"], anomaly.nats_to_bits(sel.atlas["ood_" + likelihood]))
    st.plotly_chart(
        figures.complexity_figure(
            (sel.atlas["complexity"], anomaly.nats_to_bits(sel.atlas[likelihood])),
            other_bits,
            (fit.intercept, fit.slope),
            names,
        ),
        key="anomaly_complexity",
    )
    sign = "+" if fit.intercept >= 0 else "−"
    st.caption(
        f"The corrected score is the height above the dashed line: −log p(x) − ({fit.slope:.3f} × PNG bits {sign} "
        f"{abs(fit.intercept):.0f}), fitted on the {own} test split."
    )
with table:
    st.markdown("**AUROC of every score, every model** (own test split against the other dataset's)")
    show_all_models(sel.name)
