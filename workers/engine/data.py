"""Datasets for assessments: validated loading of uploaded .npz / .csv files and the bundled demo datasets."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

MAX_MEMBER_BYTES = 512 * 1024 * 1024  # declared uncompressed size of one array in an .npz
MAX_COMPRESSION_RATIO = 200
MAX_CSV_BYTES = 256 * 1024 * 1024
X_KEYS = ("x", "X", "inputs", "features", "data")
Y_KEYS = ("y", "Y", "labels", "targets", "target")
BUILTIN_DATASETS = ("digits", "breast_cancer", "iris", "wine")
SPLIT_SEED = 20240601


class DataError(ValueError):
    """A dataset file is malformed or unsafe; the message says what is wrong and how to fix it."""


def array_sha256(x: np.ndarray, y: np.ndarray | None = None) -> str:
    """SHA-256 over dtype, shape and bytes of the arrays: the same data always hashes the same."""
    digest = hashlib.sha256()
    for array in (x, y):
        if array is None:
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validate_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    input_shape: tuple | None = None,
    nb_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Check inputs and labels; return them as float32 / int64 or raise DataError with the reason."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype == object or y.dtype == object:
        raise DataError(
            "Arrays of Python objects are not accepted; save numeric arrays (float inputs, integer labels)."
        )
    if x.dtype.kind not in "biuf":
        raise DataError(f"Inputs must be numeric, got dtype {x.dtype}.")
    if y.dtype.kind not in "biuf":
        raise DataError(f"Labels must be integers, got dtype {y.dtype}.")
    if x.ndim < 2:
        raise DataError(f"Inputs must have shape (N, features...) with N samples, got shape {x.shape}.")
    if y.ndim != 1:
        raise DataError(f"Labels must be a 1-D array of class indices, got shape {y.shape}.")
    if len(x) != len(y):
        raise DataError(f"{len(x)} inputs but {len(y)} labels; they must match.")
    if len(x) == 0:
        raise DataError("The dataset is empty.")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
        raise DataError(
            f"Inputs contain NaN or infinite values ({bad} samples affected); clean or impute them first."
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError("Labels must be whole class indices; found NaN, infinite or fractional labels.")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError("Labels must be class indices 0..C-1; found negative labels.")
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(
            f"Inputs have per-sample shape {tuple(x.shape[1:])}; the model expects {tuple(input_shape)}."
        )
    if nb_classes is not None and y.max() >= nb_classes:
        raise DataError(
            f"Labels go up to {int(y.max())} but the model has only {nb_classes} classes "
            f"(0..{nb_classes - 1})."
        )
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def _pick(members: dict, keys: tuple, what: str) -> str:
    for key in keys:
        if key in members:
            return key
    raise DataError(
        f"The .npz file has no {what} array; name it one of {', '.join(keys)} "
        f"(found: {', '.join(members) or 'none'})."
    )


def load_npz(
    path: str | Path,
    *,
    input_shape: tuple | None = None,
    nb_classes: int | None = None,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Load (x, y) from an .npz with arrays named x and y, refusing pickles and decompression bombs."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DataError(
            "The file is not an .npz archive; save it with numpy.savez(path, x=inputs, y=labels)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            for name, info in infos.items():
                if info.file_size > max_member_bytes:
                    raise DataError(
                        f"Array {name!r} would unpack to {info.file_size} bytes, "
                        f"over the {max_member_bytes}-byte limit."
                    )
                if (
                    info.compress_size
                    and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO
                    and info.file_size > 1 << 20
                ):
                    raise DataError(
                        f"Array {name!r} is compressed {info.file_size // info.compress_size}×; "
                        "refused as a possible zip bomb."
                    )
            x_key, y_key = _pick(infos, X_KEYS, "input"), _pick(infos, Y_KEYS, "label")
            arrays = {}
            for key in (x_key, y_key):
                with archive.open(infos[key]) as member:
                    arrays[key] = np.load(io.BytesIO(member.read(max_member_bytes + 1)), allow_pickle=False)
    except DataError:
        raise
    except ValueError as exc:
        # numpy refuses object arrays when allow_pickle=False with a ValueError
        raise DataError(
            f"The .npz holds an array numpy cannot read safely ({exc}); save plain numeric arrays."
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"The .npz archive is damaged or truncated ({exc}).") from exc
    return validate_arrays(arrays[x_key], arrays[y_key], input_shape=input_shape, nb_classes=nb_classes)


def load_csv(
    path: str | Path,
    label_column: str | int = "label",
    *,
    input_shape: tuple | None = None,
    nb_classes: int | None = None,
    max_bytes: int = MAX_CSV_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Load (x, y) from a CSV with a header row; every column but the label column is a numeric feature."""
    path = Path(path)
    if path.stat().st_size > max_bytes:
        raise DataError(f"The CSV is larger than {max_bytes} bytes.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError("The CSV is not UTF-8 text.") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise DataError("The CSV needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    if isinstance(label_column, int) or (
        isinstance(label_column, str) and label_column.lstrip("-").isdigit() and label_column not in header
    ):
        label_index = int(label_column)
        if not -len(header) <= label_index < len(header):
            raise DataError(f"Label column index {label_index} is outside the {len(header)} columns.")
        label_index %= len(header)
    elif label_column in header:
        label_index = header.index(label_column)
    else:
        raise DataError(f"The CSV has no column {label_column!r}; columns are: {', '.join(header)}.")
    features, labels = [], []
    for line_number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"Line {line_number} has {len(row)} fields, the header has {len(header)}.")
        try:
            values = [float(cell) for cell in row]
        except ValueError as exc:
            raise DataError(
                f"Line {line_number} has a non-numeric value ({exc}); encode categories as numbers first."
            ) from exc
        labels.append(values.pop(label_index))
        features.append(values)
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if input_shape is not None and x.ndim == 2 and int(np.prod(input_shape)) == x.shape[1]:
        x = x.reshape(len(x), *input_shape)
    return validate_arrays(x, y, input_shape=input_shape, nb_classes=nb_classes)


def builtin_dataset(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A bundled scikit-learn dataset split 60/20/20 into train / holdout / evaluation with a fixed seed.

    digits becomes (N, 1, 8, 8) images in [0, 1]; the tabular datasets are min-max scaled to [0, 1].
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if name == "digits":
        bunch = datasets.load_digits()
        x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    elif name in ("breast_cancer", "iris", "wine"):
        bunch = getattr(datasets, f"load_{name}")()
        raw = bunch.data.astype(np.float64)
        span = raw.max(axis=0) - raw.min(axis=0)
        x = ((raw - raw.min(axis=0)) / np.where(span > 0, span, 1.0)).astype(np.float32)
    else:
        raise DataError(f"Unknown built-in dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)}.")
    y = bunch.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=SPLIT_SEED, stratify=y
    )
    x_holdout, x_eval, y_holdout, y_eval = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=SPLIT_SEED, stratify=y_rest
    )
    return {
        "train": (np.ascontiguousarray(x_train), y_train),
        "holdout": (np.ascontiguousarray(x_holdout), y_holdout),
        "evaluation": (np.ascontiguousarray(x_eval), y_eval),
    }
