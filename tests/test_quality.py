"""The shipped classifiers and the sample-quality scores, on the real test splits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vae.catalog import catalog
from vae.checkpoint import holds_model
from vae.data import load_split
from vae.quality import (
    CLASSIFIERS,
    ClassifierError,
    FeatureStats,
    accuracy,
    classifier_path,
    coverage_entropy,
    frechet_distance,
    load_classifier,
    read_classifier_card,
    reference_stats,
    score_samples,
)

TARGETS = {"mnist": 0.985, "fashion-mnist": 0.89}


@pytest.mark.parametrize("dataset", sorted(TARGETS))
def test_each_shipped_classifier_has_the_test_accuracy_its_card_records(data_dir, dataset):
    card = read_classifier_card()["datasets"][dataset]
    measured = accuracy(load_classifier(dataset), load_split(dataset, False, data_dir))
    assert measured == pytest.approx(card["test_accuracy"], abs=0.002)
    assert measured >= TARGETS[dataset]
    path = classifier_path(dataset)
    assert card["bytes"] == path.stat().st_size < 1_000_000  # a few hundred KB of float16 weights


def test_the_catalog_does_not_take_the_classifiers_folder_for_a_model(tmp_path):
    assert CLASSIFIERS.parent.name == "checkpoints"  # the classifiers ship beside the models
    assert not holds_model(CLASSIFIERS)
    names = [e.name for e in catalog(CLASSIFIERS.parent, tmp_path)]
    assert "classifiers" not in names and len(names) >= 8


def test_real_test_images_score_well_and_one_repeated_image_scores_badly(data_dir):
    net = load_classifier("mnist")
    reference = reference_stats(net, "mnist", str(data_dir))
    train = load_split("mnist", True, data_dir).as_float(slice(0, 2000))[:, 0].numpy()  # unseen by the reference
    real = score_samples(net, train, reference)
    one = score_samples(net, np.repeat(train[:1], 2000, axis=0), reference)
    assert real.confidence > 0.97 and real.coverage > math.log(10) - 0.01
    assert one.coverage == 0.0 and one.frechet > 20 * real.frechet


def test_the_frechet_distance_of_gaussians_has_its_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    cov = a @ a.T + np.eye(5)
    same = FeatureStats(np.zeros(5), cov)
    assert frechet_distance(same, same) == pytest.approx(0.0, abs=1e-9)
    shifted = FeatureStats(np.full(5, 2.0), 4 * np.eye(5))
    # N(0, I) against N(m, 4I): |m|² + tr(I + 4I - 2·2I) = 20 + 5
    assert frechet_distance(FeatureStats(np.zeros(5), np.eye(5)), shifted) == pytest.approx(25.0)


def test_the_coverage_is_the_entropy_of_the_predicted_classes():
    assert coverage_entropy(np.arange(10).repeat(7)) == pytest.approx(math.log(10))
    assert coverage_entropy(np.array([3, 3, 3])) == 0.0
    assert coverage_entropy(np.array([0, 1])) == pytest.approx(math.log(2))


def test_images_of_the_wrong_shape_and_a_missing_classifier_are_refused_in_one_sentence(tmp_path):
    net = load_classifier("mnist")
    with pytest.raises(ValueError, match=r"images must have shape \(N, 28, 28\)"):
        score_samples(net, np.zeros((4, 32, 32)), FeatureStats(np.zeros(128), np.eye(128)))
    with pytest.raises(ClassifierError, match="is missing; train it with"):
        load_classifier("mnist", tmp_path)
    (tmp_path / "mnist.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ClassifierError, match="corrupt or truncated"):
        load_classifier("mnist", tmp_path)
