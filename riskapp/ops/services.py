"""Worker heartbeats: each worker reports its host, device and library versions."""

from __future__ import annotations

import platform
import socket

from django.utils import timezone

from riskapp.ops.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str | None = None, queues: str = "") -> WorkerHeartbeat:
    from workers.engine.device import device_description, resolve_device

    import django

    hostname = hostname or socket.gethostname()
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queues,
            "device": device_description(resolve_device()),
            "versions": {"python": platform.python_version(), "django": django.get_version()},
            "last_seen": timezone.now(),
        },
    )
    return heartbeat
