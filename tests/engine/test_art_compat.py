"""Each ART workaround in art_compat: a test that shows the bug in ART 1.20.1 and one that shows the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from workers.engine import art_compat

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, home: Path, art_data_path: Path) -> dict:
    env = {**os.environ, "HOME": str(home), "ART_DATA_PATH": str(art_data_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plain_art_ignores_art_data_path_and_writes_into_home(tmp_path):
    seen = _python(
        "import json, art.config as c; print(json.dumps({'path': c.ART_DATA_PATH}))",
        tmp_path,
        tmp_path / "owned",
    )
    assert seen["path"] == str(tmp_path / ".art" / "data")
    assert (tmp_path / ".art" / "config.json").exists()


def test_engine_keeps_art_files_under_art_data_path(tmp_path):
    seen = _python(
        "import json, workers.engine, art.config as c; print(json.dumps({'path': c.ART_DATA_PATH}))",
        tmp_path,
        tmp_path / "owned",
    )
    assert seen["path"] == str(tmp_path / "owned")
    assert not (tmp_path / ".art").exists()


def test_float64_inputs_break_a_torch_model_and_the_entrance_cast_fixes_it():
    module = torch.nn.Linear(4, 3)
    batch = torch.from_numpy(np.ones((2, 4), dtype=np.float64))
    with pytest.raises(RuntimeError):
        module(batch)
    assert art_compat.float32_entrance(module)(batch).dtype == torch.float32


def test_class_labels_postprocessor_is_broken_and_label_only_output_is_not():
    from art.defences.postprocessor import ClassLabels
    from art.estimators.classification import BlackBoxClassifier

    probabilities = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], dtype=np.float32)
    classifier = BlackBoxClassifier(
        lambda x: probabilities[: len(x)],
        input_shape=(2,),
        nb_classes=3,
        postprocessing_defences=[ClassLabels()],
    )
    art_output = classifier.predict(np.zeros((2, 2), dtype=np.float32))
    expected = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float32)
    assert not np.array_equal(art_output, expected)
    assert np.array_equal(art_compat.label_only_output(probabilities), expected)


def test_svc_default_breaks_art_and_the_explicit_flag_fixes_it():
    from art.estimators.classification.scikitlearn import SklearnClassifier
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    svc = SVC().fit(x, y)
    with pytest.raises(AttributeError):
        SklearnClassifier(svc).predict(x[:2])
    predictions = SklearnClassifier(art_compat.sklearn_estimator_for_art(svc)).predict(x[:5])
    assert np.array_equal(predictions.argmax(axis=1), svc.predict(x[:5]))


def _hopskipjump_examples(factory, handle, x, y) -> np.ndarray:
    np.random.seed(0)
    attack = factory(
        handle.proba_classifier(label_only=True),
        max_iter=2,
        max_eval=20,
        init_eval=5,
        init_size=20,
        verbose=False,
    )
    return attack.generate(x, y=np.eye(handle.nb_classes, dtype=np.float32)[y])


def test_hopskipjump_ignores_the_seed_and_the_reproducible_subclass_follows_it(cancer_gbc, cancer_data):
    from art.attacks.evasion import HopSkipJump

    _, handle = cancer_gbc
    x, y = cancer_data[4][:4], cancer_data[5][:4]
    plain = [_hopskipjump_examples(HopSkipJump, handle, x, y) for _ in range(2)]
    assert not np.array_equal(plain[0], plain[1])
    fixed = [_hopskipjump_examples(art_compat.reproducible_hopskipjump, handle, x, y) for _ in range(2)]
    assert np.array_equal(fixed[0], fixed[1])
