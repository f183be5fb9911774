"""Safe intake of uploaded files: spool with a size limit and SHA-256, then byte-level checks that never unpickle."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from workers.engine.data import MAX_COMPRESSION_RATIO, MAX_MEMBER_BYTES, X_KEYS, Y_KEYS, file_sha256  # noqa: F401
from workers.engine.loaders import HOW_TO_EXPORT, pickle_kind

CHUNK_BYTES = 1 << 20
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


@dataclass(frozen=True)
class SpooledFile:
    path: Path
    sha256: str
    size: int
    original_name: str


def _human(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def _safe_suffix(name: str) -> str:
    suffix = Path(name or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


@contextlib.contextmanager
def spooled(upload, *, field: str, max_bytes: int) -> Iterator[SpooledFile]:
    """Copy an upload (a Django File) to a private temporary file in chunks, hashing as it goes.

    The copy stops as soon as it passes `max_bytes`, so an oversize upload is refused without being
    stored anywhere. The temporary file is removed when the block ends.
    """
    original_name = os.path.basename(getattr(upload, "name", "") or "")
    declared = getattr(upload, "size", None)
    if declared is not None and declared > max_bytes:
        raise ValidationError({field: f"The file is {_human(declared)}, over the {_human(max_bytes)} upload limit."})
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(prefix="riskapp-intake-", suffix=_safe_suffix(original_name), delete=False)
    path = Path(handle.name)
    try:
        with handle:
            if hasattr(upload, "seek"):
                upload.seek(0)
            for chunk in upload.chunks(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise ValidationError(
                        {field: f"The file is larger than the {_human(max_bytes)} upload limit; nothing was stored."}
                    )
                digest.update(chunk)
                handle.write(chunk)
        if size == 0:
            raise ValidationError({field: "The file is empty. Upload the exported model or data file."})
        yield SpooledFile(path=path, sha256=digest.hexdigest(), size=size, original_name=original_name)
    finally:
        path.unlink(missing_ok=True)


class LimitedUploadHandler(FileUploadHandler):
    """Stops reading a multipart upload as soon as one file passes the limit, before Django spools the rest to disk.

    Django then drops that file from request.FILES; ``request.upload_refused`` holds (field name, message)
    so the view can answer 400 with the reason instead of "no file".
    """

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            message = f"The file is larger than the {_human(self.max_bytes)} upload limit; nothing was stored."
            self.request.upload_refused = (self.field_name, message)
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


# --- model artifacts -----------------------------------------------------------------------------------


def check_artifact(spooled_file: SpooledFile, *, fmt: str) -> None:
    """Refuse pickles and files whose bytes do not match the declared format; reads bytes only."""
    path = spooled_file.path
    kind = pickle_kind(path)
    if kind is None and _safe_suffix(spooled_file.original_name) in PICKLE_SUFFIXES and fmt != "onnx":
        kind = "pickle-based"
    if kind:
        raise ValidationError({"artifact": (
            f"This is a {kind} file. riskapp never unpickles uploaded files, because unpickling runs arbitrary "
            f"code. {HOW_TO_EXPORT[fmt]}"
        )})
    if fmt in ("torchscript", "sklearn-skops"):
        what = "TorchScript archive" if fmt == "torchscript" else "skops file"
        if not zipfile.is_zipfile(path):
            raise ValidationError({"artifact": (
                f"The file is not a {what}: it is truncated or in another format. {HOW_TO_EXPORT[fmt]}"
            )})
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValidationError({"artifact": f"The {what} is damaged or truncated ({exc}). {HOW_TO_EXPORT[fmt]}"})
        if damaged:
            raise ValidationError({"artifact": f"The {what} is damaged or truncated (member {damaged!r} fails its CRC)."})
        if fmt == "torchscript" and not any("/code/" in n for n in names):
            raise ValidationError({"artifact": f"The archive holds no TorchScript code. {HOW_TO_EXPORT[fmt]}"})
        if fmt == "sklearn-skops" and not any(n == "schema.json" for n in names):
            raise ValidationError({"artifact": f"The archive is not a skops file (no schema.json). {HOW_TO_EXPORT[fmt]}"})
    elif fmt == "onnx":
        if zipfile.is_zipfile(path):
            raise ValidationError({"artifact": f"This is a zip archive, not an ONNX model. {HOW_TO_EXPORT['onnx']}"})


# --- datasets ------------------------------------------------------------------------------------------


def _npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(member)
    return shape, dtype


def check_npz(path: Path, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> None:
    """An .npz must be a readable zip with numeric x and y arrays whose declared sizes are sane (zip bombs)."""
    how = "Save it with numpy.savez(path, x=inputs, y=labels)."
    if not zipfile.is_zipfile(path):
        raise ValidationError({"file": f"The file is not an .npz archive (truncated or another format). {how}"})
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {i.filename.removesuffix(".npy"): i for i in archive.infolist()}
            # Sizes come from the zip directory: refuse before decompressing anything.
            for name, info in infos.items():
                if info.file_size > max_member_bytes:
                    raise ValidationError({"file": (
                        f"Array {name!r} would unpack to {_human(info.file_size)}, over the "
                        f"{_human(max_member_bytes)} limit per array."
                    )})
                if info.compress_size and info.file_size > 1 << 20 and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
                    raise ValidationError({"file": f"Array {name!r} is compressed {info.file_size // info.compress_size}×; "
                                                   "refused as a possible zip bomb."})
            x_key = next((k for k in X_KEYS if k in infos), None)
            y_key = next((k for k in Y_KEYS if k in infos), None)
            if x_key is None or y_key is None:
                missing = "inputs (x)" if x_key is None else "labels (y)"
                raise ValidationError({"file": (
                    f"The .npz has no {missing} array; found: {', '.join(infos) or 'nothing'}. {how}"
                )})
            for key in (x_key, y_key):
                shape, dtype = _npy_header(archive, infos[key])
                if dtype.hasobject:
                    raise ValidationError({"file": (
                        f"Array {key!r} holds Python objects, which would need unpickling; save numeric arrays. {how}"
                    )})
                declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if declared > max_member_bytes or declared > infos[key].file_size:
                    raise ValidationError({"file": (
                        f"Array {key!r} declares shape {tuple(shape)} ({_human(declared)}) that its data does not "
                        "hold or that is over the limit; the file is damaged or hostile."
                    )})
    except ValidationError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ValidationError({"file": f"The .npz archive is damaged or truncated ({exc}). {how}"})


def csv_header(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        first = handle.read(65536).split(b"\n", 1)[0]
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": "The CSV is not UTF-8 text."})
    return [cell.strip() for cell in next(csv.reader(io.StringIO(text)), [])]


def check_csv(path: Path, *, label_column: str) -> None:
    header = csv_header(path)
    if len(header) < 2:
        raise ValidationError({"file": "The CSV needs a header row naming at least one feature column and the label column."})
    if label_column not in header:
        raise ValidationError({"label_column": (
            f"The CSV has no column {label_column!r}. Its columns are: {', '.join(header[:40])}"
            f"{'…' if len(header) > 40 else ''}. Name the column that holds the class labels."
        )})


def parse_shape(text: str | list | tuple, *, field: str = "input_shape") -> list[int]:
    """'1,8,8' or '1x8x8' or [1, 8, 8] → [1, 8, 8]; per-sample shape, without the batch dimension."""
    if isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        parts = [p for p in re.split(r"[,x×\s]+", str(text).strip().strip("()[]")) if p]
    try:
        shape = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise ValidationError({field: f"Write the per-sample input shape as numbers separated by commas, e.g. 1,8,8 or 30 (got {text!r})."})
    if not 1 <= len(shape) <= 4 or any(d < 1 for d in shape):
        raise ValidationError({field: "The input shape needs 1 to 4 positive sizes per sample, e.g. 1,8,8 for 8×8 grey images or 30 for 30 features."})
    if int(np.prod(shape, dtype=np.float64)) > 50_000_000:
        raise ValidationError({field: "The input shape is too large (more than 50 million values per sample)."})
    return shape
