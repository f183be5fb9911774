"""An endpoint asset's scheduled re-assessment catches a model that was swapped behind its API.

Nothing in riskapp changes between the two runs: the same registered endpoint version, the same URL; only
the server behind it now answers with a weaker model. The black-box check measures it, the comparison flags it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from riskapp.assessments.models import AssessmentRun, RunStatus, RunTrigger
from riskapp.assessments.services import profile_create, run_execute
from riskapp.assets.services import asset_register, model_version_validate
from riskapp.monitoring.models import Alert, AlertKind
from riskapp.monitoring.services import schedule_create, schedule_fire

BLACKBOX_PROFILE = {
    "name": "endpoint-nightly",
    "checks": [{"kind": "evasion.blackbox",
                "params": {"attacks": ["square"], "epsilon": 0.15, "max_samples": 40, "square_max_iter": 40}}],
}


class SwappableModelServer:
    """A JSON prediction API on 127.0.0.1 whose model the test can replace while it keeps serving."""

    def __init__(self, module):
        self.module = module
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def do_POST(self):  # noqa: N802
                import torch

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                x = torch.from_numpy(np.asarray(body["inputs"], dtype=np.float32))
                with torch.no_grad():
                    probabilities = torch.softmax(server.module(x), dim=1).numpy()
                data = json.dumps({"probabilities": probabilities.tolist()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/predict"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.http.shutdown()
        self.http.server_close()


def _scheduled_run(schedule) -> AssessmentRun:
    run = schedule_fire(schedule_id=schedule.pk)
    assert run is not None and run.trigger == RunTrigger.SCHEDULE
    run_execute(run_id=run.pk)  # what the worker's run_assessment task does
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


@pytest.mark.slow
def test_model_swapped_behind_the_endpoint_raises_a_regression_alert(organization, owner, settings):
    from workers.engine.demo import train_digits_cnn

    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    strong, weak = train_digits_cnn(epochs=12, width=16), train_digits_cnn(epochs=1, width=2)
    with SwappableModelServer(strong) as server:
        asset, version = asset_register(
            organization=organization, user=owner,
            asset_fields={"name": "Digits API", "task": "image_classification"},
            version_fields={"format": "endpoint", "input_shape": [1, 8, 8], "nb_classes": 10,
                            "endpoint": {"url": server.url}, "enqueue": False},
            datasets=[{"name": "digits", "builtin_name": "digits"}])
        assert model_version_validate(version_id=version.pk).status == "validated"
        profile = profile_create(organization=organization, slug="endpoint-nightly", name="Endpoint nightly",
                                 spec=BLACKBOX_PROFILE, user=owner)
        schedule = schedule_create(organization=organization, asset=asset, profile=profile, user=owner,
                                   cron="0 3 * * *")

        baseline = _scheduled_run(schedule)
        assert not Alert.objects.exists()

        server.module = weak  # the provider redeploys; riskapp is told nothing
        current = _scheduled_run(schedule)

    assert current.version == baseline.version == version
    before = baseline.checks.get(kind="evasion.blackbox").metrics["robust_accuracy"]
    after = current.checks.get(kind="evasion.blackbox").metrics["robust_accuracy"]
    print(f"black-box robust accuracy at ε=0.15 behind the endpoint: {before} → {after}")
    alert = Alert.objects.get(asset=asset, kind=AlertKind.REGRESSION)
    [row] = [r for r in alert.diff if r["key"].startswith("evasion.blackbox:robust_accuracy@")]
    assert (row["baseline"], row["current"]) == (before, after)
    assert row["delta"] == pytest.approx(after - before) and row["delta"] < -0.05
    assert alert.baseline_run == baseline and alert.current_run == current
