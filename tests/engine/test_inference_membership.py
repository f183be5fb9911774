"""inference.membership: balanced member/non-member sets, AUC / advantage / TPR at 1% FPR, equal to ART called directly."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import inference_membership
from workers.engine.types import CheckSkipped


def test_membership_metrics_on_the_digits_cnn(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(
        inference_membership,
        model,
        suite_data(digits_data),
        max_per_side=120,
        attack_models=["rf"],
        label_only=True,
    )
    outcome = inference_membership.run(ctx)

    assert_json_ready(outcome)
    assert inference_membership.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    assert set(metrics["per_attack"]) == {"black_box_rf", "rule_based", "label_only_gap"}
    for figures in metrics["per_attack"].values():
        assert in_unit_interval(figures["auc"])
        assert -1.0 <= figures["advantage"] <= 1.0
        assert in_unit_interval(figures["tpr_at_1pct_fpr"])
    assert metrics["n_members_test"] == metrics["n_non_members_test"] == 60
    assert metrics["advantage"] == max(f["advantage"] for f in metrics["per_attack"].values())


def test_black_box_auc_equals_art_called_directly(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    x_train, y_train, x_holdout, y_holdout, _, _ = cancer_data
    ctx = check_context(
        inference_membership, model, suite_data(cancer_data), seed=5, attack_models=["rf"], max_per_side=100
    )
    engine_auc = inference_membership.run(ctx).metrics["per_attack"]["black_box_rf"]["auc"]

    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    members = np.sort(rng.choice(len(x_train), size=100, replace=False))
    non_members = np.sort(rng.choice(len(x_holdout), size=100, replace=False))
    member_order, non_member_order = rng.permutation(100), rng.permutation(100)
    fit_m, test_m = members[member_order[:50]], members[member_order[50:]]
    fit_n, test_n = non_members[non_member_order[:50]], non_members[non_member_order[50:]]

    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    attack = MembershipInferenceBlackBox(
        model.proba_classifier(), input_type="prediction", attack_model_type="rf"
    )
    attack.fit(x=x_train[fit_m], y=y_train[fit_m], test_x=x_holdout[fit_n], test_y=y_holdout[fit_n])
    x_test = np.concatenate([x_train[test_m], x_holdout[test_n]])
    y_test = np.concatenate([y_train[test_m], y_holdout[test_n]])
    scores = attack.infer(x_test, y_test, probabilities=True).reshape(-1)
    art_auc = float(roc_auc_score(np.r_[np.ones(50), np.zeros(50)], scores))

    assert engine_auc == art_auc


def test_membership_is_skipped_without_holdout_data(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    ctx = check_context(inference_membership, model, suite_data(cancer_data, holdout=False))
    with pytest.raises(CheckSkipped, match="holdout"):
        inference_membership.run(ctx)


def test_scores_of_a_perfect_and_a_blind_attack():
    labels = np.r_[np.ones(100), np.zeros(100)]
    perfect = inference_membership.membership_scores(labels, labels * 0.9 + 0.05)
    assert perfect["auc"] == 1.0 and perfect["advantage"] == 1.0 and perfect["tpr_at_1pct_fpr"] == 1.0
    blind = inference_membership.membership_scores(labels, np.full(200, 0.5))
    assert blind["auc"] == 0.5 and blind["advantage"] == 0.0 and blind["tpr_at_1pct_fpr"] == 0.0


@pytest.mark.slow
def test_membership_with_default_attack_models_on_the_digits_cnn(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = inference_membership.run(check_context(inference_membership, model, suite_data(digits_data)))
    assert {"black_box_rf", "black_box_nn", "rule_based"} <= set(outcome.metrics["per_attack"])
    assert 0.3 <= outcome.metrics["auc"] <= 1.0
