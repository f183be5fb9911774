"""Run the whole service from one command: web server, Celery worker and beat; Ctrl-C stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

from django.conf import settings
from django.core.management.base import BaseCommand


def stack_environment(base: Mapping[str, str], *, host: str, port: int, is_root: bool | None = None) -> dict:
    """The environment the web server, worker and beat start with."""
    env = {**base, "PYTHONUNBUFFERED": "1"}
    # Links in alert e-mails, webhooks and reports must point at the port this stack really serves.
    env.setdefault("RISKAPP_SITE_URL", f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")
    if is_root is None:
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root:
        # Celery warns at length about root on every start; runstack says it once instead. Uploaded model code
        # never runs as root either way: the sandbox drops to an unprivileged user.
        env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS", ""),
                                                       "ignore::celery.exceptions.SecurityWarning"]))
    return env


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat together (the `make run` stack)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(self, *args, host, port, concurrency, **options):
        python = sys.executable
        env = stack_environment(os.environ, host=host, port=port)
        if "ignore::celery.exceptions.SecurityWarning" in env.get("PYTHONWARNINGS", ""):
            self.stdout.write("note: running as root; the worker and beat inherit it (not recommended in production).")
        # WhiteNoise warns on every request cycle when the static folder is missing; an empty one is fine locally.
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [python, "-m", "celery", "-A", "workers.celery", "worker", "-Q", "assess-gpu,assess-cpu,default",
                       "-c", str(concurrency), "-l", "INFO", "-n", "local@%h", "--without-gossip", "--without-mingle"],
            "beat": [python, "-m", "celery", "-A", "workers.celery", "beat", "-l", "INFO",
                     "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                     "--pidfile", str(settings.VAR_DIR / "celerybeat.pid")],
        }
        (settings.VAR_DIR / "celerybeat.pid").unlink(missing_ok=True)
        processes = {name: subprocess.Popen(cmd, env=env, start_new_session=True) for name, cmd in commands.items()}
        url = env["RISKAPP_SITE_URL"].rstrip("/") + "/"
        self.stdout.write(self.style.SUCCESS(
            f"\nriskapp is starting at {url}\n"
            f"  Login: demo / {settings.RISKAPP_DEMO_PASSWORD}\n"
            f"  Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker: {str(settings.CELERY_BROKER_URL).split('://', 1)[0]}\n"
            f"  Press Ctrl-C to stop the web server, the worker and beat.\n"))

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            # SIGTERM to each leader only: Celery then stops its own pool processes (a warm shutdown);
            # the whole process group is killed only if a leader outlives the grace period.
            for proc in processes.values():
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + 15
            for proc in processes.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Stopped web server, worker and beat.")
