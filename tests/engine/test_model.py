"""ModelHandle: the views ART needs, query counting, trainable copies and activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.engine.device import DeviceError, resolve_device
from workers.engine.types import CheckSkipped, QueryBudgetExceeded


def test_every_prediction_path_counts_queries(digits_cnn, digits_data):
    _, handle = digits_cnn
    x = digits_data[4][:10]
    handle.predict_proba(x)
    handle.predict_labels(x)
    classifier = handle.logits_classifier()
    classifier.predict(x)
    classifier.loss_gradient(x, np.eye(10, dtype=np.float32)[digits_data[5][:10]])
    handle.proba_classifier().predict(x)
    assert handle.queries == 50
    handle.reset_queries()
    assert handle.queries == 0


def test_logits_view_and_probability_view_agree(digits_cnn, digits_data):
    _, handle = digits_cnn
    x = digits_data[4][:20]
    logits = handle.logits_classifier().predict(x)
    probabilities = handle.proba_classifier().predict(x)
    assert not np.allclose(logits.sum(axis=1), 1.0)  # ART's torch view is logits...
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)  # ...the black-box view is softmax
    assert np.array_equal(logits.argmax(axis=1), probabilities.argmax(axis=1))
    # float64 inputs (numpy 2 attacks) reach the model as float32
    assert np.allclose(handle.logits_classifier().predict(x.astype(np.float64)), logits, atol=1e-5)


def test_output_defences_are_applied_in_the_wrapper(digits_cnn, digits_data):
    _, handle = digits_cnn
    x = digits_data[4][:20]
    labels = handle.proba_classifier(label_only=True).predict(x)
    assert set(np.unique(labels)) == {0.0, 1.0} and np.all(labels.sum(axis=1) == 1.0)
    assert np.array_equal(labels.argmax(axis=1), handle.predict_labels(x))
    rounded = handle.proba_classifier(rounding=1).predict(x)
    assert np.allclose(rounded * 10, np.round(rounded * 10))


def test_view_query_limit_raises_past_the_budget(digits_cnn, digits_data):
    _, handle = digits_cnn
    limited = handle.proba_classifier(query_limit=15)
    limited.predict(digits_data[4][:10])
    with pytest.raises(QueryBudgetExceeded):
        limited.predict(digits_data[4][:10])


def test_trainable_copy_trains_without_touching_the_original(digits_cnn, digits_data):
    _, handle = digits_cnn
    x_train, y_train = digits_data[0], digits_data[1]
    before = handle.predict_proba(digits_data[4][:30])
    copy = handle.trainable_copy()
    wrong = (y_train[:200] + 1) % 10
    copy.fit(x_train[:200], wrong, epochs=3, lr=1e-2, seed=0)
    assert np.array_equal(handle.predict_proba(digits_data[4][:30]), before)
    # the original model agrees with the shifted labels almost never; the retrained copy learnt them
    assert np.mean(handle.predict_labels(x_train[:200]) == wrong) < 0.05
    assert np.mean(copy.predict_labels(x_train[:200]) == wrong) > 0.3
    assert copy.white_box and copy.input_shape == handle.input_shape


def test_sklearn_copy_is_unfitted_and_refits(cancer_logreg, cancer_data):
    _, handle = cancer_logreg
    copy = handle.trainable_copy()
    with pytest.raises(Exception):
        copy.predict_labels(cancer_data[4][:3])
    copy.fit(cancer_data[0], cancer_data[1], epochs=1, seed=0)
    assert np.mean(copy.predict_labels(cancer_data[4]) == cancer_data[5]) > 0.9


def test_penultimate_activations_of_a_torchscript_model(digits_cnn, digits_data):
    path, handle = digits_cnn
    features = handle.penultimate(digits_data[4][:6])
    scripted = torch.jit.load(str(path))
    with torch.no_grad():
        logits = scripted.fc2(torch.from_numpy(features))
    assert features.shape == (6, 64)
    assert np.allclose(logits.numpy(), handle.logits_classifier().predict(digits_data[4][:6]), atol=1e-5)


def test_black_box_models_refuse_gradient_views(cancer_gbc):
    _, handle = cancer_gbc
    with pytest.raises(CheckSkipped):
        handle.logits_classifier()
    with pytest.raises(CheckSkipped):
        handle.penultimate(np.zeros((1, 30), dtype=np.float32))
    with pytest.raises(CheckSkipped):
        handle.torch_module()


def test_preprocessing_is_applied_inside_every_view(digits_cnn_path, digits_data):
    from workers.engine.loaders import load_model

    mean, std = 0.5, 0.25
    plain = load_model(digits_cnn_path, "torchscript", sample=digits_data[4])
    normalized = load_model(digits_cnn_path, "torchscript", sample=digits_data[4], preprocessing=(mean, std))
    x = digits_data[4][:8]
    expected = plain.predict_proba((x - mean) / std)
    assert np.allclose(normalized.predict_proba(x), expected, atol=1e-6)
    with torch.no_grad():
        via_module = torch.softmax(normalized.torch_module()(torch.from_numpy(x)), dim=1).numpy()
    assert np.allclose(via_module, expected, atol=1e-6)
    via_art = normalized.logits_classifier().predict(x)
    assert np.array_equal(via_art.argmax(axis=1), expected.argmax(axis=1))


def test_device_resolution(monkeypatch):
    monkeypatch.setenv("RISKAPP_DEVICE", "cpu")
    assert resolve_device() == "cpu"
    monkeypatch.setenv("RISKAPP_DEVICE", "auto")
    assert resolve_device() == ("cuda:0" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="not available"):
            resolve_device("cuda:0")
