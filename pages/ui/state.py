"""What one page leaves for another, through typed accessors: the map's last selection (the interpolation's
endpoints) and the anomaly page's score and threshold (the image page's verdict)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from pages.ui.selection import Selection
from vae import anomaly

MAP_SELECTED = "map_selected"
ANOMALY_SETTING = "anomaly_setting"


@dataclass(frozen=True)
class MapSelected:
    """The test images last selected on a latent map (a click, box or lasso)."""

    model: str  # the map's checkpoint folder name
    dataset: str
    indices: tuple[int, ...]


def map_selected() -> MapSelected | None:
    """What was last selected on the latent map, on any model; None before anything was."""
    stored = st.session_state.get(MAP_SELECTED)
    if not stored:
        return None
    return MapSelected(stored["folder"], stored["dataset"], tuple(int(i) for i in stored["indices"]))


def remember_map_selected(sel: Selection, indices: Sequence[int]) -> None:
    """Keep the map's selection for the other pages (the interpolation's endpoints)."""
    st.session_state[MAP_SELECTED] = {"folder": sel.name, "dataset": sel.dataset, "indices": [int(i) for i in indices]}


@dataclass(frozen=True)
class AnomalySetting:
    """The anomaly score and threshold in use for a model, and how the threshold was chosen."""

    score: str
    threshold: float
    false_alarms: float  # share of the model's own test split above the threshold
    chosen_on_page: bool


def anomaly_setting(sel: Selection) -> AnomalySetting:
    """The score and threshold last set on the anomaly page for this model, else the corrected score at its 99th
    percentile (1 % false alarms)."""
    stored = st.session_state.get(ANOMALY_SETTING) or {}
    chosen = stored.get("folder") == str(sel.folder) and stored.get("score") in anomaly.available_scores(sel.atlas)
    score = stored["score"] if chosen else "corrected"
    inliers = anomaly.scores_of(sel.atlas, score)
    threshold = float(stored["threshold"]) if chosen else anomaly.threshold_at(inliers)
    return AnomalySetting(score, threshold, anomaly.flagged_rate(inliers, threshold), chosen)


def remember_anomaly_setting(sel: Selection, score: str, threshold: float) -> None:
    """Keep the anomaly page's choice so the image page judges uploads the same way."""
    st.session_state[ANOMALY_SETTING] = {"folder": str(sel.folder), "score": score, "threshold": float(threshold)}
