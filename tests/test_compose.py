"""docker-compose.yml is valid (checked with Debian's docker-compose; no container engine runs here)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed on this machine")
def test_compose_file_validates_with_docker_compose():
    env = {**os.environ, "RISKAPP_SECRET_KEY": "compose-validation", "POSTGRES_PASSWORD": "compose-validation"}
    result = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr


def test_compose_defines_the_services_riskapp_needs():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker-gpu", "worker-cpu", "beat"} <= set(services)
    gpu = services["worker-gpu"]
    assert "-Q assess-gpu -c 1" in " ".join(gpu["command"]) if isinstance(gpu["command"], list) else "-Q assess-gpu -c 1" in gpu["command"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "assess-cpu,default" in str(services["worker-cpu"]["command"])
    assert "DatabaseScheduler" in str(services["beat"]["command"])
