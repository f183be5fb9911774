"""Load a registered model artifact into a ModelHandle without ever unpickling a stranger's file."""

from __future__ import annotations

import hashlib
import importlib
import zipfile
from pathlib import Path

import numpy as np

from workers.engine.device import resolve_device
from workers.engine.model import (
    EndpointError,
    EndpointModelHandle,
    ModelHandle,
    OnnxModelHandle,
    SklearnModelHandle,
    TorchModelHandle,
    looks_like_probabilities,
    onnx_output_matrix,
)

FORMATS = ("torchscript", "sklearn-skops", "onnx", "endpoint")

# Only classes from these packages may be reconstructed from a skops file.
SKOPS_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")

HOW_TO_EXPORT = {
    "torchscript": (
        "Export the model as TorchScript: `scripted = torch.jit.script(model.eval())` (or "
        "`torch.jit.trace(model.eval(), example_input)`), then `torch.jit.save(scripted, 'model.pt')`."
    ),
    "sklearn-skops": "Save the fitted estimator with skops: `skops.io.dump(estimator, 'model.skops')`.",
    "onnx": (
        "Export the model to ONNX (torch.onnx.export, or skl2onnx for scikit-learn); upload the .onnx file."
    ),
    "endpoint": "Describe the endpoint with a URL and optional headers; no file is needed.",
}


class ModelLoadError(Exception):
    """The artifact cannot be loaded safely or does not match its declared shape; the message says why."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Magic numbers of the compressors joblib uses; an uncompressed joblib file is a plain pickle.
_JOBLIB_COMPRESSED_MAGIC = (
    b"\x78\x01",
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
    b"ZF",
)


def pickle_kind(path: str | Path) -> str | None:
    """Name a file's pickle-based format ("pickle", "joblib", "torch.save"), or None; reads bytes only."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    if path.suffix.lower() in (".pkl", ".pickle"):
        return "pickle"
    if path.suffix.lower() == ".joblib":
        return "joblib"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        # Protocol-2+ pickle; legacy torch.save files start with the same bytes.
        return "pickle"
    if any(head.startswith(magic) for magic in _JOBLIB_COMPRESSED_MAGIC):
        return "joblib"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        has_pickle = any(name.endswith(".pkl") for name in names)
        has_torchscript_code = any("/code/" in name and name.endswith(".py") for name in names)
        if has_pickle and not has_torchscript_code:
            return "torch.save"
    return None


def _refuse_pickles(path: Path, fmt: str) -> None:
    kind = pickle_kind(path)
    if kind:
        raise ModelLoadError(
            f"This file is a {kind} file. riskapp never unpickles uploaded files, because unpickling runs "
            f"arbitrary code. {HOW_TO_EXPORT[fmt]}"
        )


def _load_torchscript(path: Path, device: str):
    import torch

    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            "The file is not a TorchScript archive (truncated or another format). "
            + HOW_TO_EXPORT["torchscript"]
        )
    try:
        return torch.jit.load(str(path), map_location=torch.device(device))
    except Exception as exc:  # torch raises RuntimeError/ValueError/zip errors for damaged archives
        raise ModelLoadError(
            f"TorchScript could not load the file ({exc}). {HOW_TO_EXPORT['torchscript']}"
        ) from exc


def skops_untrusted_types_refused(untrusted: list[str]) -> list[str]:
    """Types in a skops file that riskapp will not rebuild: anything but sklearn/numpy/scipy classes."""
    refused = []
    for name in untrusted:
        module_name, _, attribute = name.rpartition(".")
        if module_name.split(".")[0] not in SKOPS_TRUSTED_PACKAGES:
            refused.append(name)
            continue
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            refused.append(name)
            continue
        # Functions and other callables could be invoked later (e.g. FunctionTransformer); only classes pass.
        if not isinstance(target, type):
            refused.append(name)
    return refused


def _load_skops(path: Path):
    import skops.io as sio

    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"The file is not a skops archive (truncated or another format). {HOW_TO_EXPORT['sklearn-skops']}"
        )
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise ModelLoadError(
            f"The skops file could not be read ({exc}). {HOW_TO_EXPORT['sklearn-skops']}"
        ) from exc
    refused = skops_untrusted_types_refused(untrusted)
    if refused:
        raise ModelLoadError(
            "The skops file contains types outside scikit-learn/numpy/scipy that riskapp will not load: "
            + ", ".join(sorted(refused))
        )
    try:
        estimator = sio.load(str(path), trusted=untrusted)
    except Exception as exc:
        raise ModelLoadError(
            f"skops could not load the estimator ({exc}). {HOW_TO_EXPORT['sklearn-skops']}"
        ) from exc
    if not hasattr(estimator, "predict") or not hasattr(estimator, "classes_"):
        raise ModelLoadError(
            "The skops file does not hold a fitted scikit-learn classifier (no predict/classes_)."
        )
    classes = np.asarray(estimator.classes_)
    if classes.dtype.kind not in "iu" or not np.array_equal(classes, np.arange(len(classes))):
        raise ModelLoadError(
            f"The classifier's classes are {classes.tolist()[:10]}; riskapp needs integer labels 0..C-1. "
            "Encode the labels (e.g. LabelEncoder) before fitting."
        )
    return estimator


def _load_onnx(path: Path, device: str):
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(
            0, ("CUDAExecutionProvider", {"device_id": int(device.split(":")[1]) if ":" in device else 0})
        )
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:
        raise ModelLoadError(f"onnxruntime could not load the file ({exc}). {HOW_TO_EXPORT['onnx']}") from exc


def _sample_batch(sample: np.ndarray | None, input_shape: tuple | None) -> np.ndarray:
    if sample is not None:
        batch = np.asarray(sample, dtype=np.float32)
        if input_shape is not None and tuple(batch.shape[1:]) != tuple(input_shape):
            if tuple(batch.shape) == tuple(input_shape):
                batch = batch[None]
            else:
                raise ModelLoadError(
                    f"The sample has per-sample shape {tuple(batch.shape[1:])}, "
                    f"the declared input shape is {tuple(input_shape)}."
                )
        return batch[:8]
    if input_shape is None:
        raise ModelLoadError(
            "Give the model's input shape (e.g. 1,8,8 or 30) or a data sample to infer it from."
        )
    return np.zeros((2, *input_shape), dtype=np.float32)


def _normalized(batch: np.ndarray, preprocessing) -> np.ndarray:
    if preprocessing is None:
        return batch
    mean, std = (np.asarray(v, dtype=np.float32) for v in preprocessing)
    return (batch - mean) / std


def load_model(
    path_or_none: str | Path | None,
    fmt: str,
    *,
    input_shape: tuple | None = None,
    nb_classes: int | None = None,
    clip_values: tuple[float, float] | None = None,
    preprocessing: tuple | None = None,
    device: str | None = None,
    endpoint: dict | None = None,
    sample: np.ndarray | None = None,
) -> ModelHandle:
    """Load a model artifact (or describe an endpoint) and verify it with one forward pass.

    input_shape and nb_classes are inferred from ``sample`` and that forward pass when not
    given; clip_values default to the sample's min / max, else (0, 1).
    """
    if fmt not in FORMATS:
        raise ModelLoadError(f"Unknown model format {fmt!r}; use one of {', '.join(FORMATS)}.")
    batch = _sample_batch(sample, input_shape)
    shape = tuple(int(d) for d in (input_shape or batch.shape[1:]))
    if clip_values is None:
        clip_values = (float(batch.min()), float(batch.max())) if sample is not None else (0.0, 1.0)
        if clip_values[0] >= clip_values[1]:
            clip_values = (clip_values[0], clip_values[0] + 1.0)
    resolved_device = resolve_device(device)
    common = {"input_shape": shape, "clip_values": clip_values, "preprocessing": preprocessing}

    if fmt == "endpoint":
        if not endpoint or not endpoint.get("url"):
            raise ModelLoadError("An endpoint model needs an endpoint description with at least a 'url'.")
        output_kind = endpoint.get("output_kind", "probabilities")
        if output_kind == "labels" and nb_classes is None:
            raise ModelLoadError("A label-only endpoint needs the number of classes (nb_classes).")
        try:
            # nb_classes 0 = unknown: the probe below learns it from the first answer.
            handle = EndpointModelHandle(
                endpoint, nb_classes=nb_classes or 0, device="cpu", sha256=None, **common
            )
            handle.predict_proba(batch)
        except (EndpointError, ValueError) as exc:
            raise ModelLoadError(f"The endpoint could not be used: {exc}") from exc
        handle.reset_queries()
        return handle

    if path_or_none is None:
        raise ModelLoadError(f"A {fmt} model needs a file. {HOW_TO_EXPORT[fmt]}")
    path = Path(path_or_none)
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist.")
    _refuse_pickles(path, fmt)
    digest = sha256_file(path)

    if fmt == "torchscript":
        import torch

        module = _load_torchscript(path, resolved_device)
        try:
            with torch.no_grad():
                out = module.eval()(torch.from_numpy(_normalized(batch, preprocessing)).to(resolved_device))
        except Exception as exc:
            raise ModelLoadError(
                f"The model failed on an input of shape {tuple(batch.shape)}: {exc}"
            ) from exc
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != len(batch):
            raise ModelLoadError("The model must return one row of class logits per input (a 2-D tensor).")
        classes = _check_classes(int(out.shape[1]), nb_classes)
        return TorchModelHandle(module, nb_classes=classes, device=resolved_device, sha256=digest, **common)

    if fmt == "sklearn-skops":
        estimator = _load_skops(path)
        n_features = getattr(estimator, "n_features_in_", None)
        if n_features is not None and int(np.prod(shape)) != int(n_features):
            raise ModelLoadError(
                f"The estimator expects {n_features} features; "
                f"inputs of shape {shape} have {int(np.prod(shape))}."
            )
        classes = _check_classes(len(estimator.classes_), nb_classes)
        handle = SklearnModelHandle(estimator, nb_classes=classes, device="cpu", sha256=digest, **common)
        _verify_forward(handle, batch)
        return handle

    session = _load_onnx(path, resolved_device)
    meta = session.get_inputs()[0]
    feed_shape = batch.reshape(len(batch), -1) if len(meta.shape or []) == 2 and len(shape) != 1 else batch
    fixed = meta.shape[0] if meta.shape and isinstance(meta.shape[0], int) and meta.shape[0] > 0 else None
    if fixed:
        feed_shape = feed_shape[:fixed]
    dtype = np.float64 if "double" in meta.type else np.float32
    try:
        outputs = session.run(None, {meta.name: _normalized(feed_shape, preprocessing).astype(dtype)})
    except Exception as exc:
        raise ModelLoadError(
            f"The ONNX model failed on an input of shape {tuple(feed_shape.shape)}: {exc}"
        ) from exc
    output_index, scores = _pick_onnx_scores(outputs, len(feed_shape))
    classes = _check_classes(int(scores.shape[1]), nb_classes)
    handle = OnnxModelHandle(
        session,
        output_index=output_index,
        outputs_probabilities=looks_like_probabilities(scores),
        nb_classes=classes,
        device=resolved_device if len(session.get_providers()) > 1 else "cpu",
        sha256=digest,
        **common,
    )
    _verify_forward(handle, batch)
    return handle


def _pick_onnx_scores(outputs: list, rows: int) -> tuple[int, np.ndarray]:
    """The first output that is a per-class score matrix (probabilities preferred over logits)."""
    candidates = []
    for index, raw in enumerate(outputs):
        try:
            matrix = onnx_output_matrix(raw)
        except (TypeError, ValueError):
            continue
        if (
            matrix.ndim == 2
            and matrix.shape[0] == rows
            and matrix.shape[1] >= 2
            and np.issubdtype(matrix.dtype, np.floating)
        ):
            candidates.append((index, matrix))
    if not candidates:
        raise ModelLoadError("The ONNX model has no output of per-class scores (shape N × classes).")
    for index, matrix in candidates:
        if looks_like_probabilities(matrix):
            return index, matrix
    return candidates[0]


def _check_classes(found: int, declared: int | None) -> int:
    if declared is not None and int(declared) != found:
        raise ModelLoadError(f"The model outputs {found} classes but {declared} were declared.")
    if found < 2:
        raise ModelLoadError("The model outputs fewer than 2 classes.")
    return found


def _verify_forward(handle: ModelHandle, batch: np.ndarray) -> None:
    try:
        handle.predict_proba(batch)
    except Exception as exc:
        raise ModelLoadError(f"The model failed on an input of shape {tuple(batch.shape)}: {exc}") from exc
    handle.reset_queries()


__all__ = ["FORMATS", "ModelLoadError", "load_model", "pickle_kind", "sha256_file"]
