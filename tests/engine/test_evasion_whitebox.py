"""White-box evasion: the engine's robust accuracies are ART's own numbers, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.engine import SuiteData, run_suite

WHITEBOX = {
    "kind": "evasion.whitebox",
    "params": {
        "epsilons": [0.05, 0.1, 0.2],
        "reference_epsilon": 0.1,
        "pgd_max_iter": 10,
        "max_samples": 120,
    },
    "thresholds": {"robust_accuracy": {"min": 0.3}},
}


def _suite(check=WHITEBOX):
    return {"name": "test", "checks": [check]}


def _eval_data(digits_data):
    x_eval, y_eval = digits_data[4], digits_data[5]
    return SuiteData(x_eval=x_eval, y_eval=y_eval)


def _art_selection(n_total: int, max_samples: int, seed: int) -> np.ndarray:
    # The documented rule: the first max_samples of numpy's seeded permutation, sorted.
    return np.sort(np.random.default_rng(seed).permutation(n_total)[:max_samples])


@pytest.mark.parametrize(
    "random_init",
    [0, pytest.param(2, marks=pytest.mark.slow, id="random-restarts")],
    ids=lambda r: f"init{r}",
)
def test_fgsm_and_pgd_robust_accuracy_equal_art_called_directly(digits_cnn, digits_data, random_init):
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    path, handle = digits_cnn
    seed = 7
    check_spec = {**WHITEBOX, "params": {**WHITEBOX["params"], "pgd_random_init": random_init}}
    result = run_suite(handle, _eval_data(digits_data), _suite(check_spec), seed=seed)
    check = result.checks[0]
    assert check.status in ("passed", "failed"), check.reason

    classifier = PyTorchClassifier(
        model=torch.jit.load(str(path)).eval(),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    x_all, y_all = digits_data[4], digits_data[5]
    index = _art_selection(len(x_all), 120, seed)
    x, y = x_all[index], y_all[index]
    y_one_hot = np.eye(10, dtype=np.float32)[y]
    compared = 0
    robust_by_eps = {}
    clean_correct = np.argmax(classifier.predict(x), axis=1) == y
    for name in ("fgsm", "pgd"):
        for point in check.metrics["attacks"][name]["points"]:
            recorded = point["parameters"]
            np.random.seed(seed)
            torch.manual_seed(seed)
            if name == "fgsm":
                attack = FastGradientMethod(
                    classifier,
                    norm=np.inf,
                    eps=recorded["eps"],
                    targeted=False,
                    batch_size=recorded["batch_size"],
                )
            else:
                attack = ProjectedGradientDescent(
                    classifier,
                    norm=np.inf,
                    eps=recorded["eps"],
                    eps_step=recorded["eps_step"],
                    max_iter=recorded["max_iter"],
                    num_random_init=recorded["num_random_init"],
                    batch_size=recorded["batch_size"],
                    verbose=False,
                )
            x_adv = attack.generate(x, y=y_one_hot)
            correct = np.argmax(classifier.predict(x_adv), axis=1) == y
            assert point["robust_accuracy"] == float(np.mean(correct)), (name, recorded["eps"])
            robust_by_eps[recorded["eps"]] = robust_by_eps.get(recorded["eps"], clean_correct) & correct
            compared += 1
    assert compared == 6
    # the worst case is the per-example AND over the clean input and both attacks
    for eps, accuracy in check.metrics["curves"]["worst_case"]:
        assert accuracy == float(np.mean(robust_by_eps[eps]))


def test_robust_accuracy_is_per_example_worst_case(digits_cnn, digits_data):
    _, handle = digits_cnn
    check = run_suite(handle, _eval_data(digits_data), _suite(), seed=0).checks[0]
    curves = check.metrics["curves"]
    for i, (eps, worst) in enumerate(curves["worst_case"]):
        assert worst <= min(curves["fgsm"][i][1], curves["pgd"][i][1], check.metrics["clean_accuracy"])
    assert check.metrics["robust_accuracy"] == curves["worst_case"][1][1]
    assert 0.9 <= check.metrics["clean_accuracy"] <= 1.0
    assert 0.0 <= check.metrics["attack_success_rate"] <= 1.0
    assert 0.0 < check.metrics["median_perturbation_norm"] <= 0.1 + 1e-6
    assert check.metrics["breaking_epsilon"] in (0.05, 0.1, 0.2, None)
    # the accuracy falls as ε grows: an undefended CNN loses most of its accuracy at ε=0.2
    assert curves["worst_case"][-1][1] < curves["worst_case"][0][1]
    assert check.queries > 0


def test_two_runs_with_the_same_seed_give_identical_metrics(digits_cnn, digits_data):
    _, handle = digits_cnn
    first = run_suite(handle, _eval_data(digits_data), _suite(), seed=3).checks[0]
    second = run_suite(handle, _eval_data(digits_data), _suite(), seed=3).checks[0]
    assert first.metrics == second.metrics
    assert first.parameters == second.parameters


def test_logistic_regression_is_attacked_through_its_gradients(cancer_logreg, cancer_data):
    _, handle = cancer_logreg
    data = SuiteData(x_eval=cancer_data[4], y_eval=cancer_data[5])
    check = run_suite(handle, data, _suite(), seed=0).checks[0]
    assert check.status in ("passed", "failed"), check.reason
    assert check.metrics["clean_accuracy"] > 0.9
    assert check.metrics["curves"]["pgd"][-1][1] <= check.metrics["clean_accuracy"]


def test_tree_model_is_skipped_with_the_reason(cancer_gbc, cancer_data):
    _, handle = cancer_gbc
    data = SuiteData(x_eval=cancer_data[4], y_eval=cancer_data[5])
    check = run_suite(handle, data, _suite(), seed=0).checks[0]
    assert check.status == "skipped"
    assert "gradients" in check.reason


@pytest.mark.slow
def test_l2_and_autoattack_add_their_curves(digits_cnn, digits_data):
    _, handle = digits_cnn
    params = {
        **WHITEBOX["params"],
        "norms": ["inf", "2"],
        "l2_epsilons": [0.5, 1.0],
        "autoattack": True,
        "max_samples": 40,
    }
    check = run_suite(
        handle,
        _eval_data(digits_data),
        _suite({"kind": "evasion.whitebox", "params": params, "thresholds": {}}),
        seed=0,
    ).checks[0]
    assert check.status == "passed", check.reason
    assert {"fgsm_l2", "pgd_l2", "worst_case_l2", "autoattack"} <= set(check.metrics["curves"])
    aa_eps, aa_accuracy = check.metrics["curves"]["autoattack"][0]
    pgd_at = dict((e, a) for e, a in check.metrics["curves"]["pgd"])[aa_eps]
    assert aa_accuracy <= pgd_at + 0.05
