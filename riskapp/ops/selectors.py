"""Reads about the platform's health: which workers answered recently."""

from datetime import timedelta

from django.utils import timezone

from riskapp.ops.models import WorkerHeartbeat


def workers_online(*, within_seconds: int = 180):
    return WorkerHeartbeat.objects.filter(last_seen__gte=timezone.now() - timedelta(seconds=within_seconds))
