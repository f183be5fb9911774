"""Service benchmarks on 127.0.0.1: submit → worker-start latency with an idle worker, the API's list endpoints
under 50 concurrent clients on gunicorn, and PDF report time for an asset with 10 and with 100 runs.

Runs against its own throw-away SQLite database and filesystem broker (or the DATABASE_URL / CELERY_BROKER_URL
given), so it never touches var/riskapp.sqlite3.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATENCY_RUNS = int(os.environ.get("RISKAPP_BENCH_LATENCY_RUNS", "10"))
LOAD_CLIENTS = int(os.environ.get("RISKAPP_BENCH_CLIENTS", "50"))
LOAD_SECONDS = float(os.environ.get("RISKAPP_BENCH_LOAD_SECONDS", "30"))
GUNICORN_WORKERS = int(os.environ.get("RISKAPP_BENCH_GUNICORN_WORKERS", str(max(2, (os.cpu_count() or 1) + 1))))
LIST_ENDPOINTS = ("/api/v1/assets/", "/api/v1/runs/", "/api/v1/datasets/", "/api/v1/frameworks/",
                  "/api/v1/alerts/")
# Only an integrity check: the worker-start latency is what is measured, not the attack.
LATENCY_SUITE = {"name": "latency", "checks": [{"kind": "integrity.data", "params": {}, "thresholds": {}}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered))) - 1))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(folder: Path) -> dict:
    env = {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'service.sqlite3'}",
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or f"filesystem://{folder / 'broker'}",
        "RISKAPP_MEDIA_ROOT": str(folder / "media"),
        "RISKAPP_VAR_DIR": str(folder),
        "RISKAPP_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "riskapp.settings",
        "OMP_NUM_THREADS": "1",
    }
    for sub in ("queue", "processed", "control"):
        (folder / "broker" / sub).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


def _setup_tenant():
    import hashlib

    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile

    from riskapp.accounts.models import Membership, Organization
    from riskapp.accounts.services import api_token_create
    from riskapp.assessments.models import Profile
    from riskapp.assets.models import ModelAsset, ModelVersion, ValidationStatus
    from riskapp.assets.services import dataset_create
    from workers.engine import demo

    organization = Organization.objects.create(name="Bench Org", slug=f"bench-{int(time.time())}")
    user = get_user_model().objects.create_user(username=f"bench-{organization.pk}", password="x" * 16)
    Membership.objects.create(user=user, organization=organization, role="owner")
    _token, raw = api_token_create(user=user, organization=organization, name="bench")
    evaluation = dataset_create(organization=organization, name="Digits (evaluation)", builtin_name="digits",
                                user=user)
    with tempfile.TemporaryDirectory() as tmp:
        model_bytes = demo.save_torchscript(demo.train_digits_cnn(epochs=4), Path(tmp) / "cnn.pt").read_bytes()
    asset = ModelAsset.objects.create(organization=organization, name="Bench digits CNN", task="image_classification",
                                      evaluation_dataset=evaluation, created_by=user)
    version = ModelVersion(asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8], nb_classes=10,
                           sha256=hashlib.sha256(model_bytes).hexdigest(), size_bytes=len(model_bytes),
                           status=ValidationStatus.VALIDATED, white_box=True, created_by=user)
    version.artifact.save("cnn.pt", ContentFile(model_bytes), save=False)
    version.save()
    asset.current_version = version
    asset.save(update_fields=["current_version"])
    profile = Profile.objects.create(organization=organization, slug="latency", name="Latency", spec=LATENCY_SUITE)
    return organization, user, raw, asset, profile


def worker_start_latency(env: dict, asset, profile, user) -> dict:
    from riskapp.assessments.models import AssessmentRun, RunStatus
    from riskapp.assessments.services import run_create

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery", "worker", "-Q", "assess-cpu,default", "-c", "1",
         "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "bench@%h"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = threading.Event()
    threading.Thread(target=lambda: [ready.set() for line in worker.stdout if " ready." in line], daemon=True).start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the bench worker did not start")
        latencies = []
        for _ in range(LATENCY_RUNS):
            time.sleep(1.5)  # an idle worker, waiting on its queue
            run = run_create(asset=asset, profile=profile, user=user)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                row = AssessmentRun.objects.filter(pk=run.pk).values("status", "created_at", "started_at").get()
                if row["status"] in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                    break
                time.sleep(0.05)
            latencies.append((row["started_at"] - row["created_at"]).total_seconds())
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {"median_s": statistics.median(latencies), "p95_s": percentile(latencies, 0.95), "n": len(latencies)}


def api_load(env: dict, token: str) -> dict:
    import requests

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "riskapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(GUNICORN_WORKERS), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=open(Path(env["RISKAPP_MEDIA_ROOT"]).parent / "gunicorn.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(base + "/api/v1/assets/", headers={"Authorization": f"Bearer {token}"},
                                timeout=30).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer")
            time.sleep(0.3)
        stop_at = time.monotonic() + LOAD_SECONDS
        lock = threading.Lock()
        latencies: list[float] = []
        errors = {"count": 0}

        def client(index: int) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            n = index
            while time.monotonic() < stop_at:
                path = LIST_ENDPOINTS[n % len(LIST_ENDPOINTS)]
                n += 1
                started = time.perf_counter()
                try:
                    ok = session.get(base + path, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors["count"] += not ok

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=LOAD_CLIENTS) as pool:
            list(pool.map(client, range(LOAD_CLIENTS)))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": 1000 * percentile(latencies, 0.5),
            "p95_ms": 1000 * percentile(latencies, 0.95), "errors": errors["count"], "seconds": elapsed}


def pdf_report_seconds(organization, user) -> dict:
    from riskapp.assets.models import ModelAsset
    from riskapp.compliance.models import Framework
    from riskapp.compliance.services import report_generate, report_request
    from bench.scale import seed_assets

    framework = Framework.objects.order_by("order").first()
    out = {}
    for runs in (10, 100):
        seed_assets(organization, assets=1, runs_per_asset=runs, start=10_000 + runs)
        asset = ModelAsset.objects.get(organization=organization, name=f"Scale asset {10_000 + runs}")
        samples = []
        for _ in range(3):
            report = report_request(organization=organization, framework=framework, fmt="pdf", user=user,
                                    asset=asset, enqueue=False)
            started = time.perf_counter()
            report = report_generate(report_id=report.pk)
            samples.append(time.perf_counter() - started)
            assert report.status == "succeeded", (report.status, report.error)
        out[runs] = {"median_s": statistics.median(samples), "bytes": report.size_bytes}
    return out


def main() -> dict:
    folder = Path(tempfile.mkdtemp(prefix="riskapp-bench-service-"))
    env = _environment(folder)
    import django

    django.setup()
    from django.core.management import call_command

    from bench.scale import seed_assets

    call_command("migrate", verbosity=0, interactive=False)
    organization, user, token, asset, profile = _setup_tenant()
    seed_assets(organization, assets=100, runs_per_asset=10)  # lists with something in them

    latency = worker_start_latency(env, asset, profile, user)
    broker = env["CELERY_BROKER_URL"].split("://")[0]
    print(f"submit → worker start ({LATENCY_RUNS} runs, idle worker, {broker} broker): "
          f"median {latency['median_s']:.2f} s, p95 {latency['p95_s']:.2f} s", flush=True)

    load = api_load(env, token)
    print(f"API lists under {LOAD_CLIENTS} clients for {load['seconds']:.0f} s on gunicorn ({GUNICORN_WORKERS} "
          f"workers): {load['rps']:.1f} req/s, p50 {load['p50_ms']:.0f} ms, p95 {load['p95_ms']:.0f} ms, "
          f"{load['errors']} errors of {load['requests']}", flush=True)

    pdf = pdf_report_seconds(organization, user)
    print(f"PDF report: 10 runs {pdf[10]['median_s']:.2f} s, 100 runs {pdf[100]['median_s']:.2f} s "
          f"(ratio {pdf[100]['median_s'] / pdf[10]['median_s']:.2f}× for 10× the runs; {pdf[10]['bytes'] // 1024} and "
          f"{pdf[100]['bytes'] // 1024} KiB)", flush=True)
    return {"latency": latency, "load": load, "pdf": pdf}


if __name__ == "__main__":
    main()
