"""Endpoint models: a real HTTP prediction API served by the test; budget, labels-only, address policy."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from workers.engine import SuiteData, run_suite
from workers.engine.loaders import ModelLoadError, load_model
from workers.engine.model import EndpointError, check_endpoint_address
from workers.engine.types import QueryBudgetExceeded


@pytest.fixture
def served_model(cancer_gbc):
    """The breast-cancer GBC behind a local JSON API; yields (base_url, served requests log)."""
    _, victim = cancer_gbc
    log = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return None

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            log.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "n": len(body["inputs"])}
            )
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:1/")
                self.end_headers()
                return
            x = np.asarray(body["inputs"], dtype=np.float32)
            probabilities = victim.predict_proba(x)
            if self.path == "/labels":
                payload = {"labels": probabilities.argmax(axis=1).tolist()}
            elif self.path == "/huge":
                payload = {"probabilities": probabilities.tolist(), "padding": "x" * 200_000}
            else:
                payload = {"probabilities": probabilities.tolist()}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


def _endpoint(url, **extra):
    return {"url": url, "allow_private": True, "headers": {"Authorization": "Bearer s3cret"}, **extra}


def test_endpoint_probabilities_match_the_served_model(served_model, cancer_gbc, cancer_data):
    url, log = served_model
    handle = load_model(None, "endpoint", endpoint=_endpoint(url + "/predict"), sample=cancer_data[4])
    assert handle.framework == "endpoint" and handle.nb_classes == 2 and not handle.white_box
    expected = cancer_gbc[1].predict_proba(cancer_data[4][:10])
    assert np.allclose(handle.predict_proba(cancer_data[4][:10]), expected, atol=1e-6)
    assert handle.queries == 10
    assert log[-1]["auth"] == "Bearer s3cret"
    assert "headers" not in handle.describe()["endpoint"]


def test_query_budget_is_enforced(served_model, cancer_data):
    url, log = served_model
    handle = load_model(
        None, "endpoint", endpoint=_endpoint(url + "/predict", query_budget=15), sample=cancer_data[4]
    )
    handle.predict_proba(cancer_data[4][:10])
    sent = len(log)
    with pytest.raises(QueryBudgetExceeded):
        handle.predict_proba(cancer_data[4][:10])
    assert len(log) == sent


def test_label_only_endpoint_needs_the_class_count_and_returns_one_hot(served_model, cancer_data):
    url, _ = served_model
    config = _endpoint(url + "/labels", output_kind="labels", output_key="labels")
    with pytest.raises(ModelLoadError, match="number of classes"):
        load_model(None, "endpoint", endpoint=config, sample=cancer_data[4])
    handle = load_model(None, "endpoint", endpoint=config, sample=cancer_data[4], nb_classes=2)
    assert handle.label_only
    scores = handle.predict_proba(cancer_data[4][:5])
    assert set(np.unique(scores)) <= {0.0, 1.0} and np.all(scores.sum(axis=1) == 1.0)


def test_redirects_are_not_followed_and_large_answers_refused(served_model, cancer_data):
    url, log = served_model
    with pytest.raises(ModelLoadError, match="HTTP 302"):
        load_model(None, "endpoint", endpoint=_endpoint(url + "/redirect"), sample=cancer_data[4])
    with pytest.raises(ModelLoadError, match="exceeds"):
        load_model(
            None,
            "endpoint",
            endpoint=_endpoint(url + "/huge", max_response_bytes=50_000),
            sample=cancer_data[4],
        )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/p", "http://10.1.2.3/p", "http://169.254.169.254/latest", "http://[::1]/p"]
)
def test_private_and_loopback_addresses_are_refused_by_default(url):
    with pytest.raises(EndpointError, match="non-public"):
        check_endpoint_address(url, allow_private=False)


def test_non_http_urls_are_refused():
    with pytest.raises(EndpointError, match="http"):
        check_endpoint_address("file:///etc/passwd", allow_private=True)


def test_blackbox_evasion_runs_against_the_endpoint(served_model, cancer_data):
    url, log = served_model
    handle = load_model(
        None, "endpoint", endpoint=_endpoint(url + "/predict"), sample=cancer_data[4], clip_values=(0.0, 1.0)
    )
    suite = {
        "name": "endpoint",
        "checks": [
            {
                "kind": "evasion.blackbox",
                "params": {"max_samples": 4, "hsj_max_iter": 3, "hsj_max_eval": 30, "hsj_init_eval": 5},
            },
            {"kind": "evasion.whitebox", "params": {}},
        ],
    }
    result = run_suite(handle, SuiteData(x_eval=cancer_data[4], y_eval=cancer_data[5]), suite, seed=0)
    blackbox, whitebox = result.checks
    assert blackbox.status == "passed", blackbox.reason
    assert blackbox.queries == blackbox.metrics["queries_used"] > 0
    assert sum(entry["n"] for entry in log[1:]) >= blackbox.queries
    assert 0.0 <= blackbox.metrics["success_rate"] <= 1.0
    assert whitebox.status == "skipped" and "gradients" in whitebox.reason


def test_rate_limit_spaces_the_requests(served_model, cancer_data, monkeypatch):
    import workers.engine.model as model_module

    url, log = served_model
    handle = load_model(
        None, "endpoint", endpoint=_endpoint(url + "/predict", rate_limit_per_s=2, batch_size=4), sample=cancer_data[4]
    )
    waits = []
    monkeypatch.setattr(model_module.time, "sleep", waits.append)
    before = handle.requests_made
    handle.predict_proba(cancer_data[4][:12])
    assert handle.requests_made - before == 3  # three requests of four inputs
    assert len(waits) >= 2 and all(0 < wait <= 0.5 for wait in waits)
