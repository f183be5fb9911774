"""Celery workers and the Django-free assessment engine."""
