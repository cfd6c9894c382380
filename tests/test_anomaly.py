"""Anomaly scores: ROC / AUROC maths on synthetic scores, the corrected score, and the CLI on real checkpoints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from vae import anomaly
from vae.checkpoint import find_checkpoints, load_atlas, load_model
from vae.cli import anomaly as anomaly_cli
from vae.figures import ellipse_points
from vae.latent import MapProjection

# ---------------------------------------------------------------------------------------------------------------
# ROC and AUROC
# ---------------------------------------------------------------------------------------------------------------


def brute_force_auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    diff = outliers[:, None] - inliers[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_auroc_extremes():
    low, high = np.arange(100.0), np.arange(100.0) + 1000
    assert anomaly.auroc(low, high) == 1.0
    assert anomaly.auroc(high, low) == 0.0
    assert anomaly.auroc(np.full(50, 3.0), np.full(70, 3.0)) == 0.5  # all ties: chance


def test_auroc_matches_pairwise_counting_with_ties():
    rng = np.random.default_rng(1)
    inliers = rng.integers(0, 20, 300).astype(float)  # many ties
    outliers = rng.integers(5, 30, 200).astype(float)
    assert anomaly.auroc(inliers, outliers) == pytest.approx(brute_force_auroc(inliers, outliers), abs=1e-12)


def test_roc_curve_runs_from_0_0_to_1_1_and_its_area_is_the_auroc():
    rng = np.random.default_rng(2)
    inliers, outliers = rng.normal(0, 1, 2000).round(1), rng.normal(1, 1.5, 1500).round(1)
    roc = anomaly.roc_curve(inliers, outliers)
    assert (roc.fpr[0], roc.tpr[0]) == (0.0, 0.0) and (roc.fpr[-1], roc.tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc.fpr) >= 0) and np.all(np.diff(roc.tpr) >= 0)
    assert roc.area == pytest.approx(anomaly.auroc(inliers, outliers), abs=1e-12)
    t = roc.thresholds[len(roc.thresholds) // 3]
    i = len(roc.thresholds) // 3
    assert roc.fpr[i] == anomaly.flagged_rate(inliers, t) and roc.tpr[i] == anomaly.flagged_rate(outliers, t)


def test_threshold_at_the_99th_percentile_gives_about_1_percent_false_alarms():
    inliers = np.random.default_rng(3).normal(size=10_000)
    threshold = anomaly.threshold_at(inliers)
    assert anomaly.flagged_rate(inliers, threshold) == pytest.approx(0.01, abs=0.001)
    assert anomaly.is_anomaly(threshold + 1e-9, threshold) and not anomaly.is_anomaly(threshold, threshold)


def test_roc_needs_both_groups():
    with pytest.raises(ValueError):
        anomaly.auroc(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError):
        anomaly.roc_curve(np.array([1.0]), np.array([]))


# ---------------------------------------------------------------------------------------------------------------
# Scores from an atlas
# ---------------------------------------------------------------------------------------------------------------


def synthetic_atlas(variational: bool = True, n: int = 1000) -> dict[str, np.ndarray]:
    """In-distribution likelihood = 20 + 0.1 * complexity (bits) + noise; the 'ood_' split is simple but unexplained."""
    rng = np.random.default_rng(4)
    atlas: dict[str, np.ndarray] = {}
    for prefix, complexity, excess in (("", rng.uniform(1500, 3000, n), 0.0), ("ood_", rng.uniform(800, 1500, n), 80)):
        nll_bits = 20 + 0.1 * complexity + excess + rng.normal(0, 5, n)
        atlas[prefix + "complexity"] = complexity.astype(np.float32)
        atlas[prefix + ("neg_elbo" if variational else "bce")] = (nll_bits * np.log(2)).astype(np.float32)
        atlas[prefix + "mse"] = rng.uniform(0, 0.1, n).astype(np.float32)
        if variational:
            atlas[prefix + "bce"] = atlas[prefix + "neg_elbo"] - 1
    return atlas


def test_complexity_fit_recovers_the_line_and_the_corrected_score_centres_inliers():
    atlas = synthetic_atlas()
    fit = anomaly.complexity_fit(atlas)
    assert fit.slope == pytest.approx(0.1, abs=0.01) and fit.intercept == pytest.approx(20, abs=15)
    inliers, outliers = anomaly.split_scores(atlas, "corrected")
    assert abs(inliers.mean()) < 1e-6 * max(1, np.abs(inliers).max()) + 1e-3
    assert outliers.mean() == pytest.approx(80, abs=3)
    # the raw likelihood calls the simple outliers *more* likely; the correction puts them right
    assert anomaly.auroc(*anomaly.split_scores(atlas, "neg_elbo")) < 0.5 < anomaly.auroc(inliers, outliers)


def test_autoencoder_scores_use_bce_and_have_no_elbo():
    atlas = synthetic_atlas(variational=False)
    assert anomaly.available_scores(atlas) == ["mse", "bce", "corrected"]
    assert anomaly.likelihood_key(atlas) == "bce"
    with pytest.raises(ValueError, match="not a VAE"):
        anomaly.scores_of(atlas, "neg_elbo")
    with pytest.raises(ValueError, match="unknown score"):
        anomaly.scores_of(atlas, "nonsense")
    assert set(anomaly.atlas_aurocs(atlas)) == {"mse", "bce", "corrected"}


def test_nearest_indices_are_sorted_by_distance():
    codes = np.random.default_rng(5).normal(size=(500, 16)).astype(np.float32)
    query = codes[17] + 0.01
    nearest = anomaly.nearest_indices(codes, query, 8)
    d = ((codes - query) ** 2).sum(1)
    np.testing.assert_array_equal(nearest, np.argsort(d)[:8])


def test_posterior_projects_onto_the_map_with_its_covariance():
    mu, logvar = np.array([1.0, -2.0, 0.5]), np.log(np.array([0.04, 0.25, 1.0]))
    components = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]], dtype=np.float32)
    pca = MapProjection("pca", np.zeros((1, 3)), np.zeros((1, 2)), np.zeros(3, np.float32), components)
    mean, cov = anomaly.posterior_on_map(mu, logvar, pca)
    np.testing.assert_allclose(mean, [1.0, -1.2 + 0.4], atol=1e-6)
    np.testing.assert_allclose(cov, [[0.04, 0.0], [0.0, 0.36 * 0.25 + 0.64 * 1.0]], atol=1e-6)
    plane = MapProjection("latent", np.zeros((1, 2)), np.zeros((1, 2)))
    mean2, cov2 = anomaly.posterior_on_map(mu[:2], logvar[:2], plane)
    np.testing.assert_allclose(cov2, np.diag([0.04, 0.25]), atol=1e-9)
    assert anomaly.posterior_on_map(mu[:2], None, plane)[1] is None
    # the k-sigma ellipse is the set of points at Mahalanobis distance k
    ring = ellipse_points(mean, cov, 2.0)
    d = ring - mean
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0, rtol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# Real checkpoints
# ---------------------------------------------------------------------------------------------------------------


def real_checkpoints(checkpoints_dir):
    folders = [f for f in find_checkpoints(checkpoints_dir) if (f / "atlas.npz").is_file()]
    assert folders, f"no checkpoints with an atlas under {checkpoints_dir}"
    return folders


def test_cli_prints_the_auroc_of_every_score(checkpoints_dir, capsys):
    for folder in real_checkpoints(checkpoints_dir):
        assert anomaly_cli.main([str(folder), "--json"]) == 0
        aurocs = json.loads(capsys.readouterr().out)
        assert set(aurocs) == set(anomaly.available_scores(load_atlas(folder)))
        assert all(0.0 <= v <= 1.0 for v in aurocs.values())
        assert anomaly_cli.main([str(folder)]) == 0
        table = capsys.readouterr().out
        assert all(anomaly.SCORE_NAMES[k] in table for k in aurocs)


def test_corrected_score_detects_the_other_dataset_in_both_directions(checkpoints_dir):
    """The issue's bar: AUROC >= 0.95 for MNIST-trained vs Fashion-MNIST and Fashion-MNIST-trained vs MNIST."""
    for folder in real_checkpoints(checkpoints_dir):
        atlas = load_atlas(folder)
        aurocs = anomaly.atlas_aurocs(atlas)
        assert aurocs["corrected"] >= 0.95, (folder.name, aurocs)
        if folder.name.startswith("fashion-mnist"):  # where likelihood is fooled, the correction must do better
            assert aurocs["corrected"] > aurocs[anomaly.likelihood_key(atlas)], (folder.name, aurocs)


def test_a_test_image_scores_as_in_the_atlas(checkpoints_dir, data_dir):
    """The page scores a user's image as the atlas scored the test split: same code, reconstruction, complexity."""
    from vae.data import load_split
    from vae.scores import png_bits

    for folder in real_checkpoints(checkpoints_dir)[::2]:  # both datasets, VAE and AE
        model, card = load_model(folder)
        atlas = load_atlas(folder)
        fit = anomaly.complexity_fit(atlas)
        images = load_split(card["dataset"], False, data_dir).images.numpy()[:20]
        readings = [anomaly.read_image(model, image, fit) for image in images]
        for i, reading in enumerate(readings):
            for key in ("mse", "bce"):
                assert reading.scores[key] == pytest.approx(float(atlas[key][i]), rel=1e-4, abs=1e-5), (folder, key)
            np.testing.assert_allclose(reading.mu, atlas["mu"][i], rtol=1e-4, atol=1e-5)
            assert reading.reconstruction.shape == (28, 28) and reading.reconstruction.min() >= 0
        np.testing.assert_array_equal(png_bits(images), atlas["complexity"][:20])
        key = anomaly.likelihood_key(atlas)
        if key == "bce":  # deterministic: the corrected score matches exactly
            expected = anomaly.scores_of(atlas, "corrected")[:20]
            np.testing.assert_allclose([r.scores["corrected"] for r in readings], expected, rtol=1e-4, atol=1e-3)
        else:  # one seeded sample of z per image, as in the atlas: equal on average, not image by image
            ours = np.mean([r.scores["neg_elbo"] for r in readings])
            assert ours == pytest.approx(float(atlas["neg_elbo"][:20].mean()), rel=0.03)


@pytest.mark.slow
def test_cli_as_a_process_and_its_errors(checkpoints_dir, tmp_path):
    folder = real_checkpoints(checkpoints_dir)[0]
    run = [sys.executable, "-m", "vae.anomaly"]
    ok = subprocess.run([*run, str(folder), "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and set(json.loads(ok.stdout)) <= set(anomaly.SCORE_NAMES)

    missing = subprocess.run([*run, str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith("error:") and missing.stderr.count("\n") == 1

    broken = tmp_path / folder.name
    shutil.copytree(folder, broken, ignore=shutil.ignore_patterns("train_state.safetensors"))
    (broken / "atlas.npz").write_bytes(b"not a zip file")
    bad = subprocess.run([*run, str(broken)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "atlas.npz" in bad.stderr and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr
