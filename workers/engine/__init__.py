"""riskapp's assessment engine: loads a model, runs ART checks on it, returns dataclasses (no Django)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _default_art_data_path() -> str:
    # ART writes model dumps and its config under ~/.art by default; keep them in a folder the service owns
    # (the service's var folder, RISKAPP_VAR_DIR when the operator moved it).
    var_dir = os.environ.get("RISKAPP_VAR_DIR") or Path(__file__).resolve().parents[2] / "var"
    project_var = Path(var_dir) / "art"
    try:
        project_var.mkdir(parents=True, exist_ok=True)
        if os.access(project_var, os.W_OK):
            return str(project_var)
    except OSError:
        pass
    return str(Path(tempfile.gettempdir()) / f"riskapp-art-{os.getuid()}")


os.environ.setdefault("ART_DATA_PATH", _default_art_data_path())

ENGINE_VERSION = "0.1.0"

from workers.engine.loaders import ModelLoadError, load_model  # noqa: E402  (ART_DATA_PATH first)
from workers.engine.model import ModelHandle  # noqa: E402  (ART_DATA_PATH first)
from workers.engine.suite import PROFILES, run_suite  # noqa: E402  (ART_DATA_PATH first)
from workers.engine.types import CheckResult, SuiteData, SuiteResult, SuiteSpec  # noqa: E402  (ART_DATA_PATH first)

__all__ = [
    "ENGINE_VERSION",
    "PROFILES",
    "CheckResult",
    "ModelHandle",
    "ModelLoadError",
    "SuiteData",
    "SuiteResult",
    "SuiteSpec",
    "load_model",
    "run_suite",
]
