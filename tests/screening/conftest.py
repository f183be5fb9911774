"""Screening fixtures: the demo digits CNN as a registered asset, and a detector trained once per session by the engine."""

from __future__ import annotations

import numpy as np
import pytest

from riskapp.screening import runtime
from riskapp.screening.services import detector_store_from_run, suite_with_detector_dir
from tests.engine.conftest import digits_cnn_path, digits_data  # noqa: F401  (engine fixtures reused)
from tests.screening.factories import TEST_SUITE, digits_asset, finished_run


@pytest.fixture(autouse=True)
def _fresh_screening_cache():
    # Each test has its own database and media root: a model loaded by an earlier test must not answer.
    runtime.cache_clear()
    yield
    runtime.cache_clear()


@pytest.fixture(scope="session")
def trained_detector(digits_cnn_path, digits_data, tmp_path_factory):  # noqa: F811
    """(SuiteResult, artifact directory) of detection.train run by the engine on the digits CNN, once per session."""
    from workers.engine.loaders import load_model
    from workers.engine.suite import run_suite
    from workers.engine.types import SuiteData

    x_train, y_train, x_holdout, y_holdout, x_eval, y_eval = digits_data
    model = load_model(digits_cnn_path, "torchscript", input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0),
                       device="cpu")
    directory = tmp_path_factory.mktemp("detector") / "detector"
    data = SuiteData(x_eval=x_eval, y_eval=y_eval, x_train=x_train, y_train=y_train, x_holdout=x_holdout,
                     y_holdout=y_holdout)
    result = run_suite(model, data, suite_with_detector_dir(TEST_SUITE, artifact_dir=directory), seed=0)
    return result, directory


@pytest.fixture
def screening_asset(organization, owner, digits_cnn_path):  # noqa: F811
    return digits_asset(organization, artifact=digits_cnn_path.read_bytes(), user=owner)


@pytest.fixture
def detector(screening_asset, trained_detector):
    result, directory = trained_detector
    return detector_store_from_run(run=finished_run(screening_asset), artifact_dir=directory, result=result)


@pytest.fixture(scope="session")
def pgd_inputs(digits_cnn_path, digits_data):  # noqa: F811
    """PGD adversarial examples of held-out digits at the ε detection.train used (ART called directly)."""
    from art.attacks.evasion import ProjectedGradientDescent

    from workers.engine.loaders import load_model

    model = load_model(digits_cnn_path, "torchscript", input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0),
                       device="cpu")
    x, y = digits_data[2][:120], digits_data[3][:120]
    attack = ProjectedGradientDescent(model.logits_classifier(), norm=np.inf, eps=0.1, eps_step=0.025, max_iter=7,
                                      num_random_init=0, batch_size=128, verbose=False)
    return attack.generate(x, y=y).astype(np.float32)
