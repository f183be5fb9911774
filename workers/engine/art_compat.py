"""The one place for workarounds of ART 1.20.1 bugs and traps under numpy 2, torch 2.13, scikit-learn 1.9."""

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
            import art.config
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


def centered_spectral_signature_scores(representations: np.ndarray) -> np.ndarray:
    """Outlier score of each row: |projection of the centred row on the top right-singular vector|.

    ART 1.20.1's ``SpectralSignatureDefense.spectral_signature_scores`` finds that vector on the
    centred matrix but then projects the *uncentred* rows onto it. With non-negative (ReLU)
    activations the mean dominates that projection and the ranking no longer follows the
    poison direction (Tran et al. 2018, Algorithm 1, scores centred rows).
    """
    centred = representations - np.mean(representations, axis=0)
    _, _, right_singular = np.linalg.svd(centred, full_matrices=False)
    return np.abs(centred @ right_singular[0]).reshape(-1, 1)


def centered_spectral_signature_defense():
    """ART's SpectralSignatureDefense with the centred scores (see centered_spectral_signature_scores).

    ``detect_poison`` calls the scoring function through the class name, so a subclass
    cannot simply override it; the subclass repeats ART's per-class loop with the fixed
    scores and keeps everything else (parameters, quota per class, report format).
    """
    from art.defences.detector.poison import SpectralSignatureDefense
    from art.utils import segment_by_class

    class CenteredSpectralSignatureDefense(SpectralSignatureDefense):
        def detect_poison(self, **kwargs) -> tuple[dict, list[int]]:
            self.set_params(**kwargs)
            if self.classifier.layer_names is None:
                raise ValueError("No layer names identified.")
            features = self.classifier.get_activations(
                self.x_train, layer=len(self.classifier.layer_names) - 1, batch_size=self.batch_size
            )
            features = np.reshape(features, (features.shape[0], -1))
            nb_classes = self.classifier.nb_classes
            features_by_class = segment_by_class(features, self.y_train, nb_classes)
            indices_by_class = segment_by_class(np.arange(self.y_train.shape[0]), self.y_train, nb_classes)
            is_clean = [0] * self.y_train.shape[0]
            report = {}
            quantile = max(1 - self.eps_multiplier * self.expected_pp_poison, 0.0)
            for class_features, indices in zip(features_by_class, indices_by_class):
                if not len(class_features):
                    continue
                scores = centered_spectral_signature_scores(np.vstack(class_features))
                cutoff = np.quantile(scores, quantile)
                for score, index in zip(scores[:, 0], indices):
                    if score < cutoff:
                        is_clean[int(index)] = 1
                    else:
                        report[int(index)] = float(score)
            return report, is_clean

    return CenteredSpectralSignatureDefense


def knockoff_nets_class():
    """ART's KnockoffNets with the adaptive "all" reward guarded against zero variance.

    ART 1.20.1 normalises each reward component by the square root of its running variance.
    When a component is constant — always, for a victim that answers with labels only or with
    rounded scores (the certainty reward is then exactly 1) — the variance is 0, the rewards
    become NaN and ``np.random.choice`` fails with "probabilities contain NaN". A component
    with no variance carries no information, so it is normalised to 0 instead.
    """
    from art.attacks.extraction import KnockoffNets

    class GuardedKnockoffNets(KnockoffNets):
        def _reward_all(self, y_output: np.ndarray, y_hat: np.ndarray, n: int) -> float:
            reward = np.array(
                [
                    self._reward_cert(y_output),
                    self._reward_div(y_output, n),
                    self._reward_loss(y_output, y_hat),
                ],
                dtype=np.float64,
            )
            self.reward_avg = self.reward_avg + (1.0 / n) * (reward - self.reward_avg)
            self.reward_var = self.reward_var + (1.0 / n) * (
                (reward - self.reward_avg) ** 2 - self.reward_var
            )
            if n > 1:
                spread = np.sqrt(self.reward_var)
                reward = np.divide(reward - self.reward_avg, spread, out=np.zeros(3), where=spread > 0)
            else:
                reward = np.clip(reward, 0, 1)
            return float(np.mean(reward))

    return GuardedKnockoffNets


class _NumpyWithSeededRandomState:
    """numpy, except that an argument-less RandomState() is seeded from numpy's global generator."""

    def __init__(self):
        import numpy

        self._numpy = numpy
        self.random = _SeededRandomModule(numpy.random)

    def __getattr__(self, name):
        return getattr(self._numpy, name)


class _SeededRandomModule:
    def __init__(self, random_module):
        self._random = random_module

    def RandomState(self, seed=None):
        if seed is None:
            seed = int(self._random.randint(0, 2**31 - 1))
        return self._random.RandomState(seed)

    def __getattr__(self, name):
        return getattr(self._random, name)


def reproducible_hopskipjump(*args, **kwargs):
    """A HopSkipJump whose random starting points follow numpy's global seed.

    ART 1.20.1's HopSkipJump._init_sample draws its starting images from an unseeded
    ``np.random.RandomState()``, so the same seed gives different adversarial examples and
    query counts on every run. The subclass seeds that generator from np.random instead.
    """
    from art.attacks.evasion import HopSkipJump
    from art.attacks.evasion import hop_skip_jump as hop_skip_jump_module

    class ReproducibleHopSkipJump(HopSkipJump):
        def _init_sample(self, *init_args, **init_kwargs):
            original = hop_skip_jump_module.np
            hop_skip_jump_module.np = _NumpyWithSeededRandomState()
            try:
                return super()._init_sample(*init_args, **init_kwargs)
            finally:
                hop_skip_jump_module.np = original

    return ReproducibleHopSkipJump(*args, **kwargs)


def rule_based_membership_class():
    """ART's rule-based (gap) membership attack, one-hot encoding labels with the model's class count.

    ART 1.20.1 one-hot encodes ``y`` with ``nb_classes=len(np.unique(y))``, so a batch whose
    labels miss any class raises ``IndexError: index 3 is out of bounds``. The rule itself
    (member when the model predicts the true label) is unchanged. Only membership labels are
    returned: ART's ``probabilities=True`` branch indexes columns by the prediction vector
    and is wrong for binary models.
    """
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    class FullWidthRuleBasedMembership(MembershipInferenceBlackBoxRuleBased):
        def infer(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
            if y is None:
                raise ValueError("the rule-based membership attack requires the true labels y")
            if kwargs.get("probabilities"):
                raise ValueError("only membership labels are available from the rule-based attack")
            labels = np.argmax(y, axis=1) if np.ndim(y) == 2 else np.asarray(y, dtype=np.int64)
            if len(labels) != len(x):
                raise ValueError("Number of rows in x and y do not match")
            predicted = np.argmax(self.estimator.predict(x=x), axis=1)
            return (labels == predicted).astype(int)

    return FullWidthRuleBasedMembership
