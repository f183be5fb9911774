"""Model intake: every format loads and is verified; pickle-based files are refused, never unpickled."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from workers.engine import demo
from workers.engine.loaders import ModelLoadError, load_model, pickle_kind


class _WritesMarker:
    """A payload that, if ever unpickled, creates a file: the proof that loading ran code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "unpickled.marker"
    yield str(path)
    # A refused file must never have been executed, whatever the assertions said before.
    assert not os.path.exists(path), "an uploaded pickle was executed"


def test_torch_save_file_is_refused_without_unpickling(tmp_path, marker):
    path = tmp_path / "model.pt"
    torch.save({"weights": _WritesMarker(marker)}, path)
    with pytest.raises(ModelLoadError, match="torch.jit.script"):
        load_model(path, "torchscript", input_shape=(1, 8, 8))
    assert pickle_kind(path) == "torch.save"


def test_legacy_torch_save_pickle_is_refused(tmp_path, marker):
    path = tmp_path / "model.pt"
    torch.save(_WritesMarker(marker), path, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelLoadError, match="pickle"):
        load_model(path, "torchscript", input_shape=(1, 8, 8))


@pytest.mark.parametrize("compress", [0, 3])
def test_joblib_file_is_refused_as_skops_and_as_torchscript(tmp_path, marker, compress):
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "model.bin"
    joblib.dump(_WritesMarker(marker), path, compress=compress)
    for fmt in ("sklearn-skops", "torchscript", "onnx"):
        with pytest.raises(ModelLoadError, match="never unpickles"):
            load_model(path, fmt, input_shape=(30,))


def test_raw_pickle_with_a_model_extension_is_refused(tmp_path, marker):
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(_WritesMarker(marker), protocol=4))
    with pytest.raises(ModelLoadError, match="skops.io.dump"):
        load_model(path, "sklearn-skops", input_shape=(30,))


def test_skops_file_with_a_foreign_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "model.skops"
    sio.dump(FunctionTransformer(func=os.system), path)
    with pytest.raises(ModelLoadError, match="will not load"):
        load_model(path, "sklearn-skops", input_shape=(30,))


def test_torchscript_loads_with_inferred_shape_and_classes(digits_cnn_path, digits_data):
    handle = load_model(digits_cnn_path, "torchscript", sample=digits_data[4][:5])
    assert handle.framework == "torch"
    assert handle.input_shape == (1, 8, 8)
    assert handle.nb_classes == 10
    assert handle.white_box and handle.task == "image"
    assert len(handle.sha256) == 64
    assert handle.queries == 0
    probabilities = handle.predict_proba(digits_data[4][:7].astype(np.float64))
    assert probabilities.dtype == np.float32 and probabilities.shape == (7, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert handle.queries == 7


def test_declared_class_count_must_match(digits_cnn_path):
    with pytest.raises(ModelLoadError, match="outputs 10 classes but 3 were declared"):
        load_model(digits_cnn_path, "torchscript", input_shape=(1, 8, 8), nb_classes=3)


def test_wrong_input_shape_is_reported(digits_cnn_path):
    with pytest.raises(ModelLoadError, match="failed on an input of shape"):
        load_model(digits_cnn_path, "torchscript", input_shape=(3, 32, 32))


def test_truncated_torchscript_is_refused(tmp_path, digits_cnn_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(digits_cnn_path.read_bytes()[:2000])
    with pytest.raises(ModelLoadError, match="TorchScript"):
        load_model(path, "torchscript", input_shape=(1, 8, 8))


def test_skops_models_load_white_and_black_box(cancer_logreg_path, cancer_gbc_path, cancer_data):
    logreg = load_model(cancer_logreg_path, "sklearn-skops", sample=cancer_data[4])
    gbc = load_model(cancer_gbc_path, "sklearn-skops", sample=cancer_data[4])
    assert logreg.white_box and not gbc.white_box
    assert logreg.nb_classes == gbc.nb_classes == 2
    for handle in (logreg, gbc):
        assert np.mean(handle.predict_labels(cancer_data[4]) == cancer_data[5]) > 0.9


def test_skops_feature_count_must_match(cancer_logreg_path):
    with pytest.raises(ModelLoadError, match="expects 30 features"):
        load_model(cancer_logreg_path, "sklearn-skops", input_shape=(12,))


def test_truncated_skops_is_refused(tmp_path, cancer_logreg_path):
    path = tmp_path / "truncated.skops"
    path.write_bytes(cancer_logreg_path.read_bytes()[:300])
    with pytest.raises(ModelLoadError):
        load_model(path, "sklearn-skops", input_shape=(30,))


def test_onnx_model_loads_black_box_with_softmaxed_logits(tmp_path, digits_data):
    pytest.importorskip("onnx")
    module = demo.train_digits_cnn(epochs=1, seed=0, width=4)
    path = tmp_path / "digits.onnx"
    torch.onnx.export(
        module,
        torch.zeros(1, 1, 8, 8),
        str(path),
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
        dynamo=False,
    )
    handle = load_model(path, "onnx", sample=digits_data[4])
    assert handle.framework == "onnx" and not handle.white_box
    assert handle.nb_classes == 10
    probabilities = handle.predict_proba(digits_data[4][:20])
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(digits_data[4][:20])), dim=1).numpy()
    assert np.allclose(probabilities, expected, atol=1e-5)


def test_unknown_format_and_missing_file_are_explained(tmp_path):
    with pytest.raises(ModelLoadError, match="Unknown model format"):
        load_model(tmp_path / "m", "pickle", input_shape=(2,))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "absent.pt", "torchscript", input_shape=(2,))


def test_torchscript_archive_is_not_mistaken_for_a_pickle(digits_cnn_path):
    assert zipfile.is_zipfile(digits_cnn_path)
    assert pickle_kind(digits_cnn_path) is None


def test_the_hostile_payload_is_live_when_unpickled(tmp_path):
    # Control for the refusal tests: the same payload does run code when unpickled.
    live_marker = tmp_path / "live.marker"
    pickle.loads(pickle.dumps(_WritesMarker(str(live_marker))))
    assert live_marker.exists()


def test_torch_save_disguised_with_torchscript_members_is_not_executed(tmp_path, marker):
    # Adding a code/ folder gets past the byte inspection; TorchScript's own unpickler must still refuse.
    path = tmp_path / "disguised.pt"
    torch.save({"weights": _WritesMarker(marker)}, path)
    prefix = zipfile.ZipFile(path).namelist()[0].split("/")[0]
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(f"{prefix}/code/__torch__.py", "def forward(x):\n    return x\n")
        archive.writestr(f"{prefix}/constants.pkl", b"\x80\x02).")
    assert pickle_kind(path) is None
    with pytest.raises(ModelLoadError, match="TorchScript could not load"):
        load_model(path, "torchscript", input_shape=(1, 8, 8))
