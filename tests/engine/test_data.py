"""Dataset intake: .npz and .csv files are validated and unsafe ones refused with a clear message."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from workers.engine.data import DataError, array_sha256, builtin_dataset, load_csv, load_npz


def _npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def test_npz_round_trip_casts_to_float32_and_int64(tmp_path):
    x = np.random.default_rng(0).random((5, 1, 8, 8))
    y = np.array([0, 1, 2, 3, 4], dtype=np.int32)
    loaded_x, loaded_y = load_npz(_npz(tmp_path, x=x, y=y), input_shape=(1, 8, 8), nb_classes=10)
    assert loaded_x.dtype == np.float32 and loaded_y.dtype == np.int64
    assert np.allclose(loaded_x, x)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.array([[1.0, np.nan]]), "y": np.array([0])}, "NaN or infinite"),
        ({"x": np.array([[1.0, np.inf]]), "y": np.array([0])}, "NaN or infinite"),
        ({"x": np.ones((3, 2)), "y": np.array([0, 1])}, "3 inputs but 2 labels"),
        ({"x": np.ones((2, 2)), "y": np.array([0.5, 1.0])}, "whole class indices"),
        ({"x": np.ones((2, 2)), "y": np.array([-1, 1])}, "negative"),
        ({"x": np.ones(3), "y": np.array([0, 1, 1])}, "shape \\(N, features"),
        ({"x": np.array([["a", "b"]]), "y": np.array([0])}, "numeric"),
        ({"inputs_wrong": np.ones((2, 2)), "y": np.array([0, 1])}, "no input array"),
    ],
)
def test_malformed_npz_is_refused_with_the_reason(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        load_npz(_npz(tmp_path, **arrays))


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match="cannot read safely"):
        load_npz(path)


def test_shape_and_class_count_are_checked_against_the_model(tmp_path):
    path = _npz(tmp_path, x=np.ones((2, 30)), y=np.array([0, 4]))
    with pytest.raises(DataError, match="model expects \\(1, 8, 8\\)"):
        load_npz(path, input_shape=(1, 8, 8))
    with pytest.raises(DataError, match="only 2 classes"):
        load_npz(path, nb_classes=2)


def test_decompression_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f4", "fortran_order": False, "shape": (2**20, 64)}
            )
            block = bytes(1 << 20)
            for _ in range(80):
                member.write(block)
        archive.writestr("y.npy", b"")
    with pytest.raises(DataError, match="over the .*-byte limit|zip bomb"):
        load_npz(path, max_member_bytes=64 * 1024 * 1024)


def test_truncated_npz_is_refused(tmp_path):
    path = _npz(tmp_path, x=np.ones((50, 4)), y=np.zeros(50))
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DataError):
        load_npz(damaged)


def test_csv_with_named_label_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n0.1,0.2,1\n0.3,0.4,0\n")
    x, y = load_csv(path, "label")
    assert x.shape == (2, 2) and y.tolist() == [1, 0]


def test_csv_problems_name_the_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n0.1,0.2,1\n0.3,oops,0\n")
    with pytest.raises(DataError, match="Line 3"):
        load_csv(path, "label")
    with pytest.raises(DataError, match="no column 'target'"):
        load_csv(path, "target")


def test_builtin_digits_split_is_fixed_and_in_range():
    first, second = builtin_dataset("digits"), builtin_dataset("digits")
    assert set(first) == {"train", "holdout", "evaluation"}
    for key in first:
        assert array_sha256(*first[key]) == array_sha256(*second[key])
    x, y = first["evaluation"]
    assert x.shape[1:] == (1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert sum(len(v[1]) for v in first.values()) == 1797


def test_unknown_builtin_dataset_lists_the_choices():
    with pytest.raises(DataError, match="digits"):
        builtin_dataset("mnist")
