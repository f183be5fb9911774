"""What the platform knows about its workers: one heartbeat row per worker host and queue set."""

from django.db import models


class WorkerHeartbeat(models.Model):
    hostname = models.CharField(max_length=200, unique=True)
    queues = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=40, blank=True)  # "cpu", "cuda:0 (NVIDIA H200)" ...
    versions = models.JSONField(default=dict, blank=True)
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.device})"
