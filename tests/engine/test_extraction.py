"""extraction: stolen accuracy and agreement per query budget and output defence, equal to ART called directly."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from tests.engine.test_endpoint import served_model  # noqa: F401  (the GBC behind a local JSON API)
from workers.engine.checks import extraction
from workers.engine.loaders import load_model


def test_extraction_reports_every_budget_and_output_on_the_digits_cnn(digits_cnn, digits_data):
    _, model = digits_cnn
    ctx = check_context(
        extraction,
        model,
        suite_data(digits_data),
        budgets=[60, 120],
        attacks=["copycat"],
        thief_epochs=2,
        max_test=100,
    )
    outcome = extraction.run(ctx)

    assert_json_ready(outcome)
    assert extraction.summary(outcome.metrics).endswith(".")
    rows = outcome.metrics["results"]
    assert {(r["output"], r["budget"]) for r in rows} == {
        (o, b) for o in ("probabilities", "label_only", "rounded") for b in (60, 120)
    }
    assert all(in_unit_interval(r["stolen_accuracy"]) and in_unit_interval(r["agreement"]) for r in rows)
    assert outcome.metrics["agreement"] == max(r["agreement"] for r in rows if r["output"] == "probabilities")
    assert "agreement_drop_label_only" in outcome.metrics and "agreement_drop_rounded" in outcome.metrics
    # Each extraction queries the victim once per stolen sample, plus the victim's labels on the test set.
    assert outcome.queries == 3 * (60 + 120) + 100


def test_stolen_accuracy_equals_copycat_called_directly(digits_cnn, digits_data):
    _, model = digits_cnn
    x_train, _, x_holdout, _, x_eval, y_eval = digits_data
    ctx = check_context(
        extraction,
        model,
        suite_data(digits_data),
        seed=3,
        budgets=[100],
        attacks=["copycat"],
        outputs=["probabilities"],
        thief_epochs=2,
        max_test=150,
    )
    engine_figure = extraction.run(ctx).metrics["results"][0]["stolen_accuracy"]

    from art.attacks.extraction import CopycatCNN
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork, PyTorchClassifier

    test_idx = np.sort(np.random.default_rng(3).choice(len(x_eval), size=150, replace=False))
    victim = BlackBoxClassifierNeuralNetwork(
        model.predict_proba, input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0)
    )
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    network = extraction.make_thief((1, 8, 8), 10)
    thief = PyTorchClassifier(
        model=network,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(network.parameters(), lr=1e-3),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    copycat = CopycatCNN(
        victim, batch_size_fit=32, batch_size_query=32, nb_epochs=2, nb_stolen=100, use_probability=True
    )
    stolen = copycat.extract(np.concatenate([x_train, x_holdout]), thieved_classifier=thief)
    art_figure = float(np.mean(np.argmax(stolen.predict(x_eval[test_idx]), axis=1) == y_eval[test_idx]))

    assert engine_figure == art_figure


def test_a_label_only_model_is_only_attacked_through_labels(cancer_gbc, cancer_data):
    _, model = cancer_gbc
    model.label_only = True
    ctx = check_context(
        extraction, model, suite_data(cancer_data), budgets=[50], attacks=["copycat"], thief_epochs=2
    )
    outcome = extraction.run(ctx)
    assert {r["output"] for r in outcome.metrics["results"]} == {"label_only"}


def test_a_query_budget_too_large_for_the_pool_is_capped(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    ctx = check_context(
        extraction,
        model,
        suite_data(cancer_data, train=False, holdout=False),
        budgets=[50, 100000],
        attacks=["copycat"],
        outputs=["probabilities"],
        thief_epochs=2,
    )
    outcome = extraction.run(ctx)
    pool = len(cancer_data[4]) // 2
    assert outcome.metrics["budgets"] == [50, pool]
    assert outcome.metrics["pool_size"] == pool


def test_extraction_against_an_endpoint_stops_cleanly_at_its_query_budget(served_model, cancer_data):  # noqa: F811
    url, log = served_model
    endpoint = {"url": url + "/predict", "allow_private": True, "query_budget": 300}
    model = load_model(None, "endpoint", endpoint=endpoint, sample=cancer_data[4], clip_values=(0.0, 1.0))
    model.reset_queries()
    ctx = check_context(
        extraction, model, suite_data(cancer_data), budgets=[100, 250], attacks=["copycat"], thief_epochs=2
    )
    outcome = extraction.run(ctx)

    assert [(r["output"], r["budget"]) for r in outcome.metrics["results"]] == [("probabilities", 100)]
    assert "query budget ran out" in outcome.notes[0]
    # Queries spent on the interrupted 250-query theft count too: the endpoint answered them.
    assert len(cancer_data[4]) + 100 < outcome.queries <= 300
    assert in_unit_interval(outcome.metrics["agreement"])


@pytest.mark.slow
def test_extraction_with_standard_budgets_steals_a_good_copy(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = extraction.run(check_context(extraction, model, suite_data(digits_data)))
    assert outcome.metrics["stolen_accuracy"] > 0.8
    assert outcome.metrics["per_output"]["label_only"]["agreement"] > 0.5
