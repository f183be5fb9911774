"""Turning a screening request body (JSON arrays or an .npz upload) into a validated float32 batch, with clear refusals."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from django.core.exceptions import ValidationError

# Histogram bins for the per-input entropy used by the query-pattern watch.
ENTROPY_BINS = 16


def batch_from_json(inputs) -> np.ndarray:
    """A list of inputs (nested lists of numbers) as a float64 array, before shape checks."""
    if not isinstance(inputs, list):
        raise ValidationError({"inputs": ["Send a JSON list of inputs: {\"inputs\": [[...], [...]]}."]})
    if not inputs:
        raise ValidationError({"inputs": ["The batch is empty: send at least one input."]})
    try:
        array = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        reason = "inputs must be numbers in equally shaped nested lists"
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            reason = "inputs have ragged shapes: every input must have the same shape"
        raise ValidationError({"inputs": [f"Could not read the batch: {reason}."]}) from exc
    return array


def batch_from_npz(upload, *, max_bytes: int) -> np.ndarray:
    """The array `x` of an uploaded .npz (never unpickled: object arrays are refused)."""
    if upload.size is not None and upload.size > max_bytes:
        raise ValidationError({"file": [f"The upload is {upload.size} bytes; the limit is {max_bytes}."]})
    raw = upload.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValidationError({"file": [f"The upload is larger than the {max_bytes}-byte limit."]})
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            names = list(archive.files)
            if "x" not in names:
                raise ValidationError({"file": [f"The .npz has no array named 'x' (it has: {', '.join(names) or 'none'})."]})
            array = archive["x"]
    except ValidationError:
        raise
    except ValueError as exc:  # object arrays would need pickle; np.load refuses them
        raise ValidationError({"file": [f"The .npz could not be read safely: {exc}."]}) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValidationError({"file": ["Not a readable .npz file (save it with numpy.savez(path, x=batch))."]}) from exc
    if array.dtype.kind not in "fiub":
        raise ValidationError({"file": [f"x has dtype {array.dtype}; send numbers (float32 preferred)."]})
    return array


def batch_validate(array: np.ndarray, *, input_shape: tuple, max_batch: int) -> np.ndarray:
    """Check shape, finiteness and batch size; returns a C-contiguous float32 batch (N, *input_shape)."""
    input_shape = tuple(int(d) for d in input_shape)
    if array.dtype.kind not in "fiub":
        raise ValidationError({"inputs": [f"Inputs must be numbers, not {array.dtype}."]})
    if tuple(array.shape) == input_shape:
        array = array[np.newaxis]  # one input sent without the batch dimension
    if array.ndim != len(input_shape) + 1 or tuple(array.shape[1:]) != input_shape:
        raise ValidationError({"inputs": [
            f"Each input must have shape {list(input_shape)}; got a batch of shape {list(array.shape)}."]})
    if len(array) == 0:
        raise ValidationError({"inputs": ["The batch is empty: send at least one input."]})
    if len(array) > max_batch:
        raise ValidationError({"inputs": [
            f"The batch has {len(array)} inputs; at most {max_batch} per request for this asset."]})
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)[:10].tolist()
        raise ValidationError({"inputs": [f"Inputs {bad} contain NaN or infinite values."]})
    float32 = array.astype(np.float32)
    if not np.isfinite(float32).all():
        raise ValidationError({"inputs": ["Some values are too large for float32."]})
    return np.ascontiguousarray(float32)


def input_entropy(x: np.ndarray, *, clip_values: tuple[float, float]) -> np.ndarray:
    """Normalised entropy (0..1) of each input's value histogram over the model's value range.

    Random-looking inputs spread over all bins (≈1); real images and records concentrate on a few.
    """
    flat = x.reshape(len(x), -1).astype(np.float64)
    low, high = float(clip_values[0]), float(clip_values[1])
    span = high - low if high > low else 1.0
    bins = np.clip(((flat - low) / span * ENTROPY_BINS).astype(np.int64), 0, ENTROPY_BINS - 1)
    counts = np.zeros((len(flat), ENTROPY_BINS))
    np.add.at(counts, (np.repeat(np.arange(len(flat)), flat.shape[1]), bins.ravel()), 1)
    p = counts / flat.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return h / np.log(min(ENTROPY_BINS, max(flat.shape[1], 2)))
