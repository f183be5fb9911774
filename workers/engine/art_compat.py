"""The one place for workarounds of ART 1.20.1 bugs and traps under numpy 2 / torch 2.13 / scikit-learn 1.9."""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np


def configure_art_data_path() -> str:
    """Import ART with its data folder and config file under ART_DATA_PATH instead of the user's home.

    ART 1.20.1 ignores the ART_DATA_PATH environment variable: at import it writes
    ``~/.art/config.json`` and afterwards dumps pickled models into ``~/.art/data``. The
    import is therefore done with HOME pointing at the folder the service owns, and the
    data path is set explicitly afterwards.
    """
    data_path = os.environ.get("ART_DATA_PATH")
    if not data_path:
        from workers.engine import _default_art_data_path

        data_path = _default_art_data_path()
        os.environ["ART_DATA_PATH"] = data_path
    os.makedirs(data_path, exist_ok=True)
    if "art.config" not in sys.modules:
        saved_home = os.environ.get("HOME")
        os.environ["HOME"] = data_path
        try:
            import art.config  # noqa: F401
        finally:
            if saved_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved_home
    import art.config

    if getattr(art.config, "ART_DATA_PATH", None) != os.path.abspath(data_path):
        art.config.set_data_path(data_path)
    return art.config.ART_DATA_PATH


configure_art_data_path()


def float32_entrance(module):
    """Wrap a torch module so every input is cast to float32 before it reaches the weights.

    Under numpy 2, HopSkipJump, BoundaryAttack, FeatureSqueezing and others hand float64
    arrays to the model ("Input type (double) and bias type (float)").
    """
    import torch

    class Float32Entrance(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.float())

    if isinstance(module, Float32Entrance) or type(module).__name__ == "Float32Entrance":
        return module
    return Float32Entrance(module)


def as_float32(x: np.ndarray) -> np.ndarray:
    """Cast an input batch to contiguous float32 (the black-box predict functions' entrance)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def label_only_output(probabilities: np.ndarray) -> np.ndarray:
    """One-hot rows of the arg-max class.

    ART's ClassLabels postprocessor is broken in 1.20.1 (every row becomes all ones), so
    label-only output is produced here in the prediction wrapper instead.
    """
    one_hot = np.zeros_like(probabilities, dtype=np.float32)
    if probabilities.shape[0]:
        one_hot[np.arange(probabilities.shape[0]), np.argmax(probabilities, axis=1)] = 1.0
    return one_hot


def rounded_output(probabilities: np.ndarray, decimals: int) -> np.ndarray:
    """Probabilities rounded to ``decimals`` places, the output defence that ART's Rounded applies."""
    return np.round(probabilities, decimals=decimals).astype(np.float32)


def sklearn_estimator_for_art(estimator):
    """Make an SVC usable by ART under scikit-learn 1.9.

    scikit-learn 1.9 sets ``SVC.probability`` to the string "deprecated" by default; ART
    treats that truthy value as "probabilities available" and calls the missing
    ``predict_proba``. The estimator is left fitted as is; only the flag is made explicit.
    """
    from sklearn.svm import SVC

    if isinstance(estimator, SVC) and not isinstance(estimator.probability, bool):
        estimator.probability = False
    return estimator


@contextlib.contextmanager
def quiet_art_progress():
    """Silence ART's tqdm bars; attack progress is reported through the suite callback instead."""
    import logging

    logger = logging.getLogger("art")
    previous = logger.level
    logger.setLevel(max(previous, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(previous)
