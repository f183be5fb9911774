"""The CLI as a CI gate: exit 0 when thresholds hold, 1 when one fails, 2 on error; JSON has the curves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

FAST_PROFILE = {
    "name": "ci",
    "checks": [
        {"kind": "integrity.data", "thresholds": {"nan_count": {"max": 0}}},
        {
            "kind": "evasion.whitebox",
            "params": {"epsilons": [0.05, 0.1], "pgd_max_iter": 5, "max_samples": 80},
            "thresholds": {"clean_accuracy": {"min": 0.8}},
        },
    ],
}


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RISKAPP_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "workers.engine", "assess", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def eval_npz(tmp_path, digits_data):
    path = tmp_path / "eval.npz"
    np.savez(path, x=digits_data[4][:150], y=digits_data[5][:150])
    return path


def _profile(tmp_path, profile) -> str:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    return str(path)


def test_passing_run_exits_zero_and_writes_the_curves(tmp_path, digits_cnn_path, eval_npz):
    out = tmp_path / "out.json"
    completed = _cli(
        "--model", str(digits_cnn_path), "--format", "torchscript", "--data", str(eval_npz),
        "--profile", _profile(tmp_path, FAST_PROFILE), "--json", str(out), "--seed", "0",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(out.read_text())
    assert result["passed"] is True and result["device"] == "cpu"
    assert result["model"]["input_shape"] == [1, 8, 8] and result["model"]["nb_classes"] == 10
    assert result["model"]["clip_values"] == [
        float(np.load(eval_npz)["x"].min()),
        float(np.load(eval_npz)["x"].max()),
    ]
    whitebox = result["checks"][1]
    assert [point[0] for point in whitebox["metrics"]["curves"]["pgd"]] == [0.05, 0.1]
    assert whitebox["metrics"]["attacks"]["pgd"]["points"][0]["parameters"]["max_iter"] == 5
    assert (
        result["data_hashes"]["evaluation"] == __import__("hashlib").sha256(eval_npz.read_bytes()).hexdigest()
    )
    assert "evasion.whitebox" in completed.stderr  # the progress bar names the step


def test_failing_threshold_exits_one(tmp_path, digits_cnn_path, eval_npz):
    strict = json.loads(json.dumps(FAST_PROFILE))
    strict["checks"][1]["thresholds"] = {"robust_accuracy": {"min": 0.99}}
    completed = _cli(
        "--model", str(digits_cnn_path), "--format", "torchscript", "--data", str(eval_npz),
        "--profile", _profile(tmp_path, strict), "--input-shape", "1,8,8", "--classes", "10", "--clip", "0,1",
        "--no-progress",
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    assert "FAILED" in completed.stdout and "robust_accuracy" in completed.stdout


def test_pickle_model_exits_two_with_the_reason(tmp_path, eval_npz):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, path)
    completed = _cli(
        "--model", str(path), "--format", "torchscript", "--data", str(eval_npz), "--no-progress"
    )
    assert completed.returncode == 2
    assert "torch.jit.script" in completed.stderr


def test_wrong_class_count_exits_two(tmp_path, digits_cnn_path, eval_npz):
    completed = _cli(
        "--model",
        str(digits_cnn_path),
        "--format",
        "torchscript",
        "--data",
        str(eval_npz),
        "--classes",
        "3",
        "--no-progress",
    )
    assert completed.returncode == 2
    assert "3 were declared" in completed.stderr
