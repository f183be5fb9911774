"""Shared engine fixtures: the demo datasets and models, trained once per session and saved as users would."""

from __future__ import annotations

import pytest
import torch

from workers.engine import demo
from workers.engine.data import builtin_dataset
from workers.engine.loaders import load_model

# The engine tests run on shared machines: one thread each (also set by the root conftest).
torch.set_num_threads(1)


def _splits(name: str):
    splits = builtin_dataset(name)
    return (*splits["train"], *splits["holdout"], *splits["evaluation"])


@pytest.fixture(scope="session")
def digits_data():
    """Train / holdout / evaluation arrays: float32 (N, 1, 8, 8) in [0, 1], int64 labels."""
    return _splits("digits")


@pytest.fixture(scope="session")
def cancer_data():
    """(x_train, y_train, x_holdout, y_holdout, x_eval, y_eval): float32 (N, 30) in [0, 1], int64 labels."""
    return _splits("breast_cancer")


@pytest.fixture(scope="session")
def digits_cnn_path(tmp_path_factory):
    module = demo.train_digits_cnn(epochs=12, seed=0)
    return demo.save_torchscript(module, tmp_path_factory.mktemp("models") / "digits_cnn.pt")


@pytest.fixture(scope="session")
def cancer_logreg_path(tmp_path_factory):
    return demo.save_skops(
        demo.train_cancer_logreg(seed=0), tmp_path_factory.mktemp("models") / "cancer_logreg.skops"
    )


@pytest.fixture(scope="session")
def cancer_gbc_path(tmp_path_factory):
    return demo.save_skops(
        demo.train_cancer_gbc(seed=0), tmp_path_factory.mktemp("models") / "cancer_gbc.skops"
    )


@pytest.fixture
def digits_cnn(digits_cnn_path, digits_data):
    """(path, handle) of the trained digits CNN; a fresh handle per test (query counter at 0)."""
    handle = load_model(
        digits_cnn_path, "torchscript", sample=digits_data[4], clip_values=(0.0, 1.0), device="cpu"
    )
    return digits_cnn_path, handle


@pytest.fixture
def cancer_logreg(cancer_logreg_path, cancer_data):
    """(path, handle) of the breast-cancer logistic regression (white-box)."""
    handle = load_model(cancer_logreg_path, "sklearn-skops", sample=cancer_data[4], clip_values=(0.0, 1.0))
    return cancer_logreg_path, handle


@pytest.fixture
def cancer_gbc(cancer_gbc_path, cancer_data):
    """(path, handle) of the breast-cancer gradient boosting model (black-box only)."""
    handle = load_model(cancer_gbc_path, "sklearn-skops", sample=cancer_data[4], clip_values=(0.0, 1.0))
    return cancer_gbc_path, handle
