"""Security settings and secrets: the production configuration passes Django's deploy checks, CSRF and rate limits
hold, tokens are stored hashed, and endpoint auth headers, webhook secrets and the SMTP password never appear in
logs, API answers or the audit trail."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "RISKAPP_PRODUCTION": "true",
    "RISKAPP_SECRET_KEY": "k" + secrets.token_urlsafe(60),
    "RISKAPP_ALLOWED_HOSTS": "riskapp.example.com",
}


def _manage(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION_ENV, **(extra_env or {})}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_check_deploy_is_clean_with_the_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_set_secure_cookies_hsts_and_ssl_redirect():
    script = ("from django.conf import settings as s; import json; print(json.dumps([s.SESSION_COOKIE_SECURE, "
              "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
              "s.DEBUG, 'django.middleware.csrf.CsrfViewMiddleware' in s.MIDDLEWARE]))")
    result = _manage("shell", "-c", script)
    assert result.returncode == 0, result.stderr
    secure, csrf_secure, httponly, ssl_redirect, hsts, debug, csrf = json.loads(result.stdout.strip().splitlines()[-1])
    assert secure and csrf_secure and httponly and ssl_redirect and hsts >= 31536000 and not debug and csrf


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", extra_env={"RISKAPP_SECRET_KEY": ""})
    assert result.returncode != 0 and "RISKAPP_SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_forms_without_a_csrf_token_are_refused(owner):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong-password-1"})
    assert response.status_code == 403
    client.force_login(owner)
    response = client.post("/settings/", {"name": "changed"})
    assert response.status_code == 403


@pytest.mark.django_db
def test_repeated_failed_logins_are_rate_limited(owner, settings, client):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong-password-1"}).status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong-password-1"})
    assert response.status_code == 429 and b"Too many failed sign-in attempts" in response.content


@pytest.mark.django_db
def test_api_tokens_are_stored_only_as_hashes(organization, owner):
    from django.db import connection

    from riskapp.accounts.services import api_token_create

    _token, raw = api_token_create(user=owner, organization=organization, name="ci")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert rows and raw not in repr(rows) and raw[10:] not in repr(rows)


class _Model(BaseHTTPRequestHandler):
    """A 10-class endpoint model answering uniform probabilities; records the auth header it received."""

    received: list[str] = []

    def log_message(self, *args):
        return None

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(self.headers.get("X-Api-Key", ""))
        data = json.dumps({"probabilities": [[0.1] * 10 for _ in body["inputs"]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint_model():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    _Model.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict", _Model.received
    server.shutdown()
    server.server_close()


def _everything_the_api_shows(api) -> str:
    seen = []
    for path in ("/api/v1/assets/", "/api/v1/audit-events/?limit=1000", "/api/v1/channels/", "/api/v1/alerts/",
                 "/api/v1/runs/"):
        seen.append(api.get(path).content.decode())
    for asset in api.get("/api/v1/assets/").json()["results"]:
        seen.append(api.get(f"/api/v1/assets/{asset['id']}/").content.decode())
        seen.append(api.get(f"/api/v1/assets/{asset['id']}/versions/").content.decode())
    return "\n".join(seen)


@pytest.mark.django_db
def test_secrets_never_appear_in_logs_api_answers_or_the_audit_trail(
        owner_api, owner_client, organization, owner, settings, caplog, endpoint_model,
        django_capture_on_commit_callbacks):
    from riskapp.assets.services import model_version_validate
    from riskapp.audit.models import AuditEvent
    from riskapp.monitoring.models import Delivery
    from tests.monitoring.factories import make_alert
    from tests.monitoring.receiver import Receiver

    url, received = endpoint_model
    endpoint_secret = "epk-" + secrets.token_hex(16)
    smtp_password = "smtp-" + secrets.token_hex(16)
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    settings.EMAIL_HOST_PASSWORD = smtp_password
    settings.RISKAPP_ALERT_RETRY_BASE_S = 0
    caplog.set_level(logging.DEBUG)

    asset = owner_api.post("/api/v1/assets/", {"name": "Remote digits", "task": "image_classification"},
                           format="json").json()
    created = owner_api.post(f"/api/v1/assets/{asset['id']}/versions/", {
        "format": "endpoint", "input_shape": "1,8,8", "nb_classes": 10, "endpoint_url": url,
        "endpoint_auth_header_name": "X-Api-Key", "endpoint_auth_header_value": endpoint_secret}, format="json")
    assert created.status_code == 201, created.content
    version = model_version_validate(version_id=created.json()["id"])
    assert version.status == "validated", version.status_reason
    assert received and set(received) == {endpoint_secret}  # the secret was really used
    # A rotation through the API, then a validation that fails: its reason must not carry the secret either.
    rotated = owner_api.post(f"/api/v1/assets/{asset['id']}/versions/{version.pk}/endpoint/",
                             {"auth_header_value": endpoint_secret + "-2", "url": url + "-gone"}, format="json")
    assert rotated.status_code in (200, 202), rotated.content
    model_version_validate(version_id=version.pk)

    with Receiver() as receiver:
        webhook = owner_api.post("/api/v1/channels/", {"name": "hook", "kind": "webhook", "url": receiver.url,
                                                       "min_severity": "info"}, format="json")
        assert webhook.status_code == 201, webhook.content
        webhook_secret = webhook.json()["secret"]
        assert webhook_secret  # shown once, in the answer that created it
        owner_api.post("/api/v1/channels/", {"name": "mail", "kind": "email", "email_recipients": ["sec@acme.test"],
                                             "min_severity": "info"}, format="json")
        settings.CELERY_TASK_ALWAYS_EAGER = True
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER = "127.0.0.1", 9, "riskapp"
        settings.EMAIL_TIMEOUT = 2
        with django_capture_on_commit_callbacks(execute=True):
            make_alert(organization, owner)
        assert receiver.requests, "the webhook was delivered (signed with the secret)"

    version.refresh_from_db()
    shown = _everything_the_api_shows(owner_api)
    pages = "\n".join(owner_client.get(path).content.decode() for path in (
        f"/assets/{asset['id']}/", "/monitoring/", "/settings/"))
    audit = "\n".join(json.dumps(details) for details in AuditEvent.objects.values_list("details", flat=True))
    deliveries = "\n".join(str(row) for row in Delivery.objects.values_list("error", flat=True))
    assert Delivery.objects.filter(channel__kind="email").exclude(error="").exists()  # SMTP really was tried
    logs = caplog.text + "\n".join(repr(record.args) for record in caplog.records)
    for name, secret in (("endpoint auth header", endpoint_secret), ("webhook secret", webhook_secret),
                         ("SMTP password", smtp_password)):
        for where, text in (("API", shown), ("pages", pages), ("audit trail", audit), ("logs", logs),
                            ("deliveries", deliveries), ("version reason", version.status_reason)):
            assert secret not in text, f"the {name} appears in the {where}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_logging_at_debug_never_logs_the_endpoint_secret(organization, owner, endpoint_model,
                                                                  celery_worker_process):
    from riskapp.assessments.models import AssessmentRun, Profile
    from riskapp.assessments.services import run_create
    from riskapp.assets.models import ModelVersion
    from riskapp.assets.services import asset_create, dataset_create, model_version_create
    from tests.worker import wait_for

    url, received = endpoint_model
    secret = "epk-" + secrets.token_hex(16)
    worker = celery_worker_process(extra_env={"RISKAPP_LOG_LEVEL": "DEBUG", "RISKAPP_ENDPOINT_ALLOW_PRIVATE": "true"})
    from django.test import override_settings

    with override_settings(RISKAPP_ENDPOINT_ALLOW_PRIVATE=True):
        asset = asset_create(organization=organization, name="Remote digits", task="image_classification", user=owner)
        evaluation = dataset_create(organization=organization, name="Digits", builtin_name="digits", user=owner)
        version = model_version_create(asset=asset, format="endpoint", input_shape=[1, 8, 8], nb_classes=10,
                                       user=owner, endpoint={"url": url, "auth_header_name": "X-Api-Key",
                                                             "auth_header_value": secret})
    wait_for(lambda: ModelVersion.objects.filter(pk=version.pk, status="validated").exists(), timeout=120,
             message=f"the worker to validate the endpoint version\n{worker.log[-2000:]}")
    asset.refresh_from_db()
    profile = Profile.objects.create(organization=organization, slug="integrity", name="Integrity",
                                     spec={"name": "integrity", "checks": [
                                         {"kind": "integrity.data", "params": {}, "thresholds": {}}]})
    run = run_create(asset=asset, profile=profile, user=owner, evaluation_dataset=evaluation)
    wait_for(lambda: AssessmentRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).exists(),
             timeout=120, message=f"the worker to run the assessment\n{worker.log[-2000:]}")
    assert received and set(received) == {secret}  # the worker really sent it
    assert " DEBUG " in worker.log  # the worker really logged at DEBUG
    assert secret not in worker.log


@pytest.mark.parametrize("content_type", ["json", "multipart"])
def test_nul_characters_in_submitted_text_get_a_400_not_a_database_error(owner_api, content_type):
    body = {"name": "model\x00name", "task": "image_classification"}
    response = owner_api.post("/api/v1/assets/", body, format=content_type)
    assert response.status_code == 400
    assert "NUL" in str(response.json())
