"""README's CI example, run exactly as written against a live server and a real worker, gates on the verdict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from riskapp.accounts.services import api_token_create
from tests.assets.conftest import digits_cnn_bytes, digits_eval, npz_bytes  # noqa: F401 (fixtures)
from tests.worker import celery_worker_process  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def readme_block(marker: str) -> str:
    """The ```sh block of README.md whose first line is the comment `# <marker>: …`."""
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        if block.startswith(f"# {marker}:"):
            return block
    raise AssertionError(f"README has no ```sh block starting with '# {marker}:'")


def _run_block(block: str, *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    # `python` in README means the environment riskapp is installed in: put this interpreter first on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"
    # This checkout's riskapp, whichever checkout the venv was installed from.
    env = {**env, "PATH": path, "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_readme_ci_gate_uploads_assesses_and_exits_with_the_verdict(
        live_server, celery_worker_process, organization, owner, tmp_path, digits_cnn_bytes, digits_eval):
    from riskapp.assessments.models import AssessmentRun
    from riskapp.assets.models import ModelAsset

    celery_worker_process()
    (tmp_path / "model.pt").write_bytes(digits_cnn_bytes)
    (tmp_path / "eval.npz").write_bytes(npz_bytes(x=digits_eval[0], y=digits_eval[1]))
    _token, raw = api_token_create(user=owner, organization=organization, name="ci")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RISKAPP_")}
    env.update(RISKAPP_URL=live_server.url, RISKAPP_TOKEN=raw)

    result = _run_block(readme_block("ci-gate"), cwd=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert AssessmentRun.objects.count() == 1, output
    run = AssessmentRun.objects.get()
    asset = ModelAsset.objects.get(name="Digits CNN (CI)")
    assert run.asset == asset and run.status == "succeeded", output
    # The untrained test CNN is a real model with a real verdict; the exit code must be that verdict, not an error.
    expected = 0 if run.passed and not run.unreliable else (3 if run.unreliable else 1)
    assert result.returncode == expected, output
    assert f"run #{run.pk} succeeded" in output
    assert asset.evaluation_dataset.role == "evaluation" and run.evaluation_dataset == asset.evaluation_dataset
    written = json.loads((tmp_path / "riskapp-run.json").read_text())
    assert written["id"] == run.pk and {c["kind"] for c in written["checks"]} == set(
        run.checks.values_list("kind", flat=True))


@pytest.mark.django_db(transaction=True)
def test_readme_ci_gate_without_a_token_says_what_to_do(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("RISKAPP_")}
    result = _run_block(readme_block("ci-gate"), cwd=tmp_path, env=env)
    assert result.returncode != 0 and "create an API token under Settings" in result.stderr
