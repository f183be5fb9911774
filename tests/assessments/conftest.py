"""Fixtures for assessment tests: the demo digits CNN trained once per session, and a registered asset of it."""

from __future__ import annotations

import pytest

from tests.assessments.factories import custom_profile, digits_asset


@pytest.fixture(scope="session")
def digits_cnn_bytes(tmp_path_factory) -> bytes:
    from workers.engine import demo

    path = demo.save_torchscript(demo.train_digits_cnn(epochs=12, seed=0),
                                 tmp_path_factory.mktemp("assessments") / "digits_cnn.pt")
    return path.read_bytes()


@pytest.fixture
def asset(organization, owner, digits_cnn_bytes):
    return digits_asset(organization, model_bytes=digits_cnn_bytes, user=owner)


@pytest.fixture
def tiny_profile(organization):
    return custom_profile(organization)


@pytest.fixture
def published(monkeypatch):
    """Messages published to the broker by run_enqueue, recorded at the one edge that talks to the broker."""
    from workers.tasks import run_assessment

    sent: list[dict] = []

    def apply_async(args=None, kwargs=None, queue=None, **options):
        sent.append({"args": list(args or []), "queue": queue})

    monkeypatch.setattr(run_assessment, "apply_async", apply_async)
    return sent
