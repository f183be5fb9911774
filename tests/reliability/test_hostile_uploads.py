"""Hostile and malformed dataset uploads (property-based): the API answers 4xx or accepts the file, never 5xx,
and validating whatever was stored ends validated or rejected in the worker, never in an exception."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskapp.assets.models import Dataset, ValidationStatus
from riskapp.assets.services import dataset_validate

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _valid_npz() -> bytes:
    rng = np.random.default_rng(0)
    return _npz(x=rng.random((20, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 20))


def _npy_with_header(shape, descr: str, payload: bytes) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return out.getvalue() + payload


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _upload(api, name: str, content: bytes, **fields):
    return api.post("/api/v1/datasets/", {"name": "hostile", "role": "evaluation",
                                          "file": SimpleUploadedFile(name, content), **fields}, format="multipart")


def _assert_refused_or_safe(response) -> None:
    assert response.status_code in (201, 400), (response.status_code, response.content[:500])
    if response.status_code == 201:
        # Accepted bytes go on to the worker's validation, which must end in a verdict, not an exception.
        dataset = dataset_validate(dataset_id=response.json()["id"])
        assert dataset.status in (ValidationStatus.VALIDATED, ValidationStatus.REJECTED)
    else:
        assert response.json(), "a 400 says what is wrong"


VALID = _valid_npz()

numeric_dtypes = st.sampled_from(["<f4", "<f8", "<i8", "<u1", "|b1", "<f2", "<c8", "<U3", "|S2", "<M8[s]"])


@PROPERTY_SETTINGS
@given(cut=st.integers(min_value=0, max_value=len(VALID) - 1))
def test_truncated_npz_is_refused(owner_api, cut):
    _assert_refused_or_safe(_upload(owner_api, "eval.npz", VALID[:cut]))


@PROPERTY_SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), min_size=1, max_size=8))
def test_corrupted_npz_bytes_are_refused_or_validated(owner_api, flips):
    data = bytearray(VALID)
    for position, xor in flips:
        data[position] ^= xor
    _assert_refused_or_safe(_upload(owner_api, "eval.npz", bytes(data)))


@PROPERTY_SETTINGS
@given(x_dtype=numeric_dtypes, y_dtype=numeric_dtypes,
       x_shape=st.lists(st.integers(0, 6), min_size=0, max_size=4),
       y_shape=st.lists(st.integers(0, 25), min_size=0, max_size=2))
def test_npz_of_any_dtype_and_shape_is_refused_or_validated(owner_api, x_dtype, y_dtype, x_shape, y_shape):
    x = np.zeros(x_shape, dtype=np.dtype(x_dtype))
    y = np.zeros(y_shape, dtype=np.dtype(y_dtype))
    _assert_refused_or_safe(_upload(owner_api, "eval.npz", _npz(x=x, y=y)))


@PROPERTY_SETTINGS
@given(shape=st.lists(st.integers(1, 2**40), min_size=1, max_size=4), descr=st.sampled_from(["<f4", "<f8", "|O"]),
       payload=st.binary(max_size=64))
def test_npy_headers_declaring_huge_shapes_or_objects_are_refused_unread(owner_api, shape, descr, payload):
    member = _npy_with_header(shape, descr, payload)
    labels = _npy_with_header([len(payload)], "<i8", b"\0" * 8 * len(payload))
    response = _upload(owner_api, "eval.npz", _zip({"x.npy": member, "y.npy": labels}))
    _assert_refused_or_safe(response)


def test_object_arrays_are_refused_without_unpickling(owner_api, tmp_path):
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    x = np.empty(3, dtype=object)
    x[:] = [Boom(), Boom(), Boom()]
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=np.zeros(3, dtype=np.int64))
    response = _upload(owner_api, "eval.npz", buffer.getvalue())
    assert response.status_code == 400 and "objects" in response.content.decode()
    assert not marker.exists()


def test_npz_zip_bomb_is_refused_before_decompressing(owner_api):
    bomb = _zip({"x.npy": _npy_with_header([64 * 1024 * 1024], "<f4", b"\0" * (256 * 1024 * 1024)),
                 "y.npy": _npy_with_header([4], "<i8", b"\0" * 32)}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 2 * 1024 * 1024  # a small upload that would unpack to 256 MiB
    response = _upload(owner_api, "eval.npz", bomb)
    assert response.status_code == 400 and "zip bomb" in response.content.decode()
    assert not Dataset.objects.exists()


def test_zip_directory_lying_about_sizes_is_refused(owner_api):
    honest = bytearray(_zip({"x.npy": _npy_with_header([4, 2], "<f4", b"\0" * 32),
                             "y.npy": _npy_with_header([4], "<i8", b"\0" * 32)}))
    # Shrink every declared uncompressed size in the central directory to 1 byte.
    position = honest.find(b"PK\x01\x02")
    while position != -1:
        struct.pack_into("<I", honest, position + 24, 1)
        position = honest.find(b"PK\x01\x02", position + 4)
    _assert_refused_or_safe(_upload(owner_api, "eval.npz", bytes(honest)))


csv_cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                      st.text(max_size=6), st.just(""), st.just('"'), st.just("1e999"))


@PROPERTY_SETTINGS
@given(header=st.lists(st.text(max_size=8), min_size=0, max_size=5),
       rows=st.lists(st.lists(csv_cells, min_size=0, max_size=6), max_size=12),
       label_column=st.sampled_from(["label", "", "y"]))
def test_malformed_csv_is_refused_or_validated(owner_api, header, rows, label_column):
    text = "\n".join(",".join(row) for row in [header + ["label"], *rows])
    _assert_refused_or_safe(_upload(owner_api, "eval.csv", text.encode("utf-8", "replace"),
                                    label_column=label_column))


@PROPERTY_SETTINGS
@given(blob=st.binary(max_size=2048), name=st.sampled_from(["eval.csv", "eval.npz", "eval.bin", "eval"]))
def test_arbitrary_bytes_under_any_name_are_refused_or_validated(owner_api, blob, name):
    _assert_refused_or_safe(_upload(owner_api, name, blob))
