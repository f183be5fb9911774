"""The screening runtime: a model version and its detector loaded once per process and reused across requests."""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage


class DetectorLoadError(Exception):
    """The detector or its model cannot be loaded (missing or altered files)."""


@dataclass
class ScreeningScores:
    probabilities: np.ndarray  # (N, nb_classes)
    labels: np.ndarray  # (N,)
    adversarial: np.ndarray  # (N,)
    anomaly: np.ndarray  # (N,)
    adversarial_flag: np.ndarray  # (N,) bool
    anomalous_flag: np.ndarray  # (N,) bool

    @property
    def flagged(self) -> np.ndarray:
        return self.adversarial_flag | self.anomalous_flag


class LoadedScreen:
    """A model handle and its fitted detector; `screen` scores a validated batch."""

    def __init__(self, *, model, detector):
        self.model = model
        self.detector = detector
        # One request at a time per loaded model: torch modules are not re-entrant under hooks.
        self.lock = threading.Lock()

    def screen(self, x: np.ndarray) -> ScreeningScores:
        with self.lock:
            probabilities = self.model.predict_proba(x)
            adversarial, anomaly, flags = self.detector.score(x)
        return ScreeningScores(
            probabilities=probabilities, labels=np.argmax(probabilities, axis=1).astype(np.int64),
            adversarial=adversarial, anomaly=anomaly,
            adversarial_flag=np.asarray(flags["adversarial"], dtype=bool),
            anomalous_flag=np.asarray(flags["anomalous"], dtype=bool),
        )


_CACHE: "OrderedDict[tuple, LoadedScreen]" = OrderedDict()
_CACHE_LOCK = threading.Lock()


def cache_key(detector) -> tuple:
    # A new detector (or a changed model file) is a new key; the stale entry ages out of the LRU.
    return (detector.version_id, detector.version.sha256, detector.pk, detector.manifest_sha256)


def cache_clear() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def cache_size() -> int:
    return len(_CACHE)


def _copy_from_storage(name: str, target: Path) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as source, open(target, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _load(detector) -> LoadedScreen:
    from riskapp.assets.selectors import model_version_handle
    from workers.engine.checks.detection_train import MANIFEST_FILE, load_detector
    from workers.engine.device import resolve_device
    from workers.engine.loaders import ModelLoadError

    version = detector.version
    try:
        # The handle keeps the loaded model in memory; the local copy of the file is not needed after the block.
        with model_version_handle(version, device=resolve_device(settings.RISKAPP_DEVICE)) as model:
            pass
    except (ModelLoadError, OSError) as exc:
        raise DetectorLoadError(f"The model of version {version.label} could not be loaded: {exc}") from exc
    if version.sha256 and model.sha256 and model.sha256 != version.sha256:
        raise DetectorLoadError(f"The stored model's SHA-256 differs from the registered {version.sha256}.")
    with tempfile.TemporaryDirectory(prefix="riskapp-screen-") as tmp:
        workdir = Path(tmp)
        detector_dir = workdir / "detector"
        detector_dir.mkdir()
        for name, expected in detector.files.items():
            try:
                actual = _copy_from_storage(f"{detector.storage_prefix}/{name}", detector_dir / name)
            except OSError as exc:
                raise DetectorLoadError(f"The detector file {name} cannot be read: {exc}") from exc
            if actual != expected:
                raise DetectorLoadError(f"The detector file {name} does not match the hash recorded when it was stored.")
        if detector.files.get(MANIFEST_FILE) != detector.manifest_sha256:
            raise DetectorLoadError("The detector manifest does not match the recorded hash.")
        try:
            fitted = load_detector(detector_dir, model)
        except (ValueError, KeyError, OSError) as exc:
            raise DetectorLoadError(f"The detector could not be loaded: {exc}") from exc
    return LoadedScreen(model=model, detector=fitted)


def loaded_screen(detector) -> LoadedScreen:
    """The process-wide loaded model + detector for this detector row, loading it on first use."""
    key = cache_key(detector)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
            return entry
    entry = _load(detector)  # outside the lock: loading one model must not stall screening of others
    with _CACHE_LOCK:
        _CACHE[key] = entry
        _CACHE.move_to_end(key)
        # Only the newest detector of a version is kept: a retrained detector replaces the old one at once.
        for stale in [k for k in _CACHE if k[0] == key[0] and k != key]:
            del _CACHE[stale]
        while len(_CACHE) > settings_cache_size():
            _CACHE.popitem(last=False)
    return entry


def settings_cache_size() -> int:
    return int(getattr(settings, "RISKAPP_SCREENING_CACHE_SIZE", 4))
