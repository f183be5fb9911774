"""A real Celery worker process for tests: same broker and (test) database as the test process.

Use the `celery_worker_process` fixture (a factory): `worker = celery_worker_process()` starts
`celery -A workers.celery worker` in a subprocess and waits until it is ready; the fixture stops it
at teardown. Tests that use it need committed data, so they use `transactional_db`
(`@pytest.mark.django_db(transaction=True)`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent



def isolate_filesystem_broker() -> str:
    """Point this test process's Celery app at its own filesystem broker folder; return the broker URL.

    With the embedded (filesystem) broker, concurrent test runs on one machine would otherwise share
    var/broker and consume each other's messages. A real broker (Redis in CI) is used as configured.
    """
    from workers.celery import app

    if not str(app.conf.broker_url).startswith("filesystem://"):
        return app.conf.broker_url
    folder = Path(tempfile.mkdtemp(prefix="riskapp-test-broker-"))
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir()
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    return f"filesystem://{folder}"


@pytest.fixture(scope="session")
def broker_url():
    return isolate_filesystem_broker()


def database_url_from_settings(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if "postgresql" in engine:
        user = quote(settings_dict.get("USER") or "")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"No worker DATABASE_URL for engine {engine}")


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen, mail_dir: Path):
        self.proc = proc
        self.mail_dir = mail_dir
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if " ready." in line:
                self._ready.set()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
        if not self._ready.is_set():
            self.stop()
            raise RuntimeError("Celery worker did not become ready (exit code %s):\n" % self.proc.poll() + f"\n{self.log[-4000:]}")

    def child_pids(self) -> list[int]:
        """Pool processes of a prefork worker (the ones that execute tasks)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill(self) -> None:
        """SIGKILL the worker and its pool: the way a crashed or OOM-killed host looks."""
        for pid in self.child_pids():
            os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def sent_mail(self) -> list[str]:
        return [p.read_text() for p in sorted(self.mail_dir.glob("*.log"))]


def purge_queues() -> None:
    from workers.celery import QUEUE_CPU, QUEUE_DEFAULT, QUEUE_GPU, app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in (QUEUE_GPU, QUEUE_CPU, QUEUE_DEFAULT):
            try:
                channel.queue_purge(queue)
            except Exception:  # a queue that was never declared has nothing to purge
                pass


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path, broker_url):
    from django.db import connection

    started: list[WorkerProcess] = []

    def start(*, queues: str = "assess-gpu,assess-cpu,default", pool: str = "prefork",
              extra_env: dict | None = None, purge: bool = True) -> WorkerProcess:
        if purge:
            purge_queues()
        mail_dir = tmp_path / f"mail-{len(started)}"
        mail_dir.mkdir()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "riskapp.settings",
            "DATABASE_URL": database_url_from_settings(connection.settings_dict),
            "CELERY_BROKER_URL": broker_url,
            "RISKAPP_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "RISKAPP_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "RISKAPP_EMAIL_FILE_PATH": str(mail_dir),
            "RISKAPP_TASKS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            **(extra_env or {}),
        }
        cmd = [
            sys.executable, "-m", "celery", "-A", "workers.celery", "worker",
            "-Q", queues, "-c", "1", "--pool", pool, "-l", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        worker = WorkerProcess(proc, mail_dir)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.25, message: str = "condition"):
    """Poll until predicate() is truthy; return its value. For waiting on a worker's effect in the database."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
