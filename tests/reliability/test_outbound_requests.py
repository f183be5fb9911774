"""Endpoint models and webhook channels can't be turned against us: non-public addresses refused unless the
operator allows them, redirects never followed, answers bounded in size and time."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from workers.engine.model import EndpointError, EndpointModelHandle, check_endpoint_address

# Ways to spell an internal address: loopback, RFC 1918, link-local (cloud metadata), unspecified, IPv6 forms,
# and a name that resolves to loopback.
INTERNAL_URLS = [
    "http://127.0.0.1:8000/predict", "http://127.1/predict", "http://2130706433/predict", "http://0x7f000001/",
    "http://localhost:8000/predict", "http://0.0.0.0/", "http://10.0.0.5/", "http://172.16.3.4/",
    "http://192.168.1.10/", "http://169.254.169.254/latest/meta-data/", "http://[::1]:8000/", "http://[fe80::1]/",
    "http://[fc00::5]/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused_by_default(url):
    try:
        resolvable = socket.getaddrinfo(url.split("//")[1].split("/")[0].rsplit(":", 1)[0].strip("[]"), 80)
    except socket.gaierror:
        resolvable = None
    with pytest.raises(EndpointError, match="non-public|does not resolve" if resolvable is None else "non-public"):
        check_endpoint_address(url, allow_private=False)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://10.0.0.1/x",
                                 "http:///nohost", "dict://127.0.0.1:11211/"])
def test_non_http_schemes_are_refused_even_when_private_addresses_are_allowed(url):
    with pytest.raises(EndpointError):
        check_endpoint_address(url, allow_private=True)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/predict", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]:9/", "http://192.168.0.1/"])
def test_registering_an_endpoint_or_webhook_on_an_internal_address_is_a_400(owner_api, organization, url):
    asset = owner_api.post("/api/v1/assets/", {"name": f"Remote {url}", "task": "tabular_classification"},
                           format="json").json()
    response = owner_api.post(f"/api/v1/assets/{asset['id']}/versions/", {
        "format": "endpoint", "input_shape": "30", "nb_classes": 2, "endpoint_url": url}, format="json")
    assert response.status_code == 400 and "non-public" in str(response.json())
    response = owner_api.post("/api/v1/channels/", {"name": "hook", "kind": "webhook", "url": url}, format="json")
    assert response.status_code == 400 and "non-public" in str(response.json())


@pytest.mark.django_db
def test_the_operator_setting_allows_loopback_explicitly(owner_api, organization, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    response = owner_api.post("/api/v1/channels/", {"name": "hook", "kind": "webhook",
                                                    "url": "http://127.0.0.1:9/hook"}, format="json")
    assert response.status_code == 201, response.content


class _Hostile(BaseHTTPRequestHandler):
    """A model endpoint / webhook receiver that tries every trick: redirects inward, floods, stalls."""

    def log_message(self, *args):
        return None

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/flood":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                self.wfile.write(b'{"probabilities": [' + b"0.5," * 2_000_000)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should
        elif self.path == "/stall":
            self.server.stalled.wait(30)  # headers never come


@pytest.fixture
def hostile_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    server.stalled = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stalled.set()
    server.shutdown()
    server.server_close()


def _handle(url: str, **endpoint) -> EndpointModelHandle:
    return EndpointModelHandle({"url": url, "allow_private": True, **endpoint}, nb_classes=2, input_shape=(3,),
                               clip_values=(0.0, 1.0))


def test_an_endpoint_redirecting_inward_is_not_followed(hostile_server):
    with pytest.raises(EndpointError, match="HTTP 307"):
        _handle(hostile_server + "/redirect").predict_proba(np.zeros((2, 3), dtype=np.float32))


def test_an_endpoint_flooding_its_answer_is_cut_off_at_the_size_limit(hostile_server):
    with pytest.raises(EndpointError, match="exceeds 100000 bytes"):
        _handle(hostile_server + "/flood", max_response_bytes=100_000).predict_proba(np.zeros((2, 3), np.float32))


def test_an_endpoint_that_never_answers_fails_at_its_timeout(hostile_server):
    with pytest.raises(EndpointError, match="timed out|Read timed out"):
        _handle(hostile_server + "/stall", timeout_s=1).predict_proba(np.zeros((2, 3), dtype=np.float32))


def test_a_webhook_redirecting_inward_is_not_followed_and_fails_permanently(hostile_server, settings):
    from riskapp.monitoring.channels import ChannelError, _http_post

    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    with pytest.raises(ChannelError, match="HTTP 307") as excinfo:
        _http_post(hostile_server + "/redirect", b"{}", {})
    assert excinfo.value.permanent


def test_a_webhook_receivers_answer_is_read_only_up_to_an_excerpt_and_a_stall_times_out(hostile_server, settings):
    from riskapp.monitoring import http

    response = http.post_json(hostile_server + "/flood", b"{}", {}, 5)
    assert response.status == 200 and len(response.body_excerpt) <= http.MAX_RESPONSE_EXCERPT
    with pytest.raises(http.TransportError, match="no answer within 1 s"):
        http.post_json(hostile_server + "/stall", b"{}", {}, 1)
