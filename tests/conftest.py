"""Root fixtures: named users (an owner, a member of the same organization, an outsider), API clients,
and a real Celery worker process against the configured broker and database."""

from __future__ import annotations

import importlib
import os
import pkgutil

import pytest

# Engine tests share 2 cores with everything else; one torch thread keeps them predictable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory  # noqa: E402


def _import_app_factories() -> None:
    # Each app's tests register their model factories on import; load them all for the route walker.
    import tests

    for module in pkgutil.walk_packages(tests.__path__, "tests."):
        if module.name.endswith(".factories"):
            importlib.import_module(module.name)


_import_app_factories()


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Acme Health", slug="acme-health")


@pytest.fixture
def other_organization(db):
    return OrganizationFactory(name="Globex Finance", slug="globex-finance")


@pytest.fixture
def owner(organization):
    """alice: owner of the organization."""
    return MembershipFactory(user=UserFactory(username="alice"), organization=organization, role="owner").user


@pytest.fixture
def member(organization):
    """bob: an analyst in the same organization."""
    return MembershipFactory(user=UserFactory(username="bob"), organization=organization, role="analyst").user


@pytest.fixture
def viewer(organization):
    """victor: can read, not write."""
    return MembershipFactory(user=UserFactory(username="victor"), organization=organization, role="viewer").user


@pytest.fixture
def outsider(other_organization):
    """charlie: owner of another organization; must never see the first one's data."""
    return MembershipFactory(user=UserFactory(username="charlie"), organization=other_organization, role="owner").user


def _api_client_for(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def owner_api(owner):
    return _api_client_for(owner)


@pytest.fixture
def member_api(member):
    return _api_client_for(member)


@pytest.fixture
def viewer_api(viewer):
    return _api_client_for(viewer)


@pytest.fixture
def outsider_api(outsider):
    return _api_client_for(outsider)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(client, outsider):
    client.force_login(outsider)
    return client


@pytest.fixture(autouse=True)
def _empty_cache():
    # With RISKAPP_CACHE_URL (Redis in CI) the cache outlives a test: login-failure counters must not leak between tests.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    # Uploaded artifacts of one test never leak into another or into var/.
    settings.MEDIA_ROOT = tmp_path / "media"


from tests.worker import broker_url, celery_worker_process  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def _isolated_broker(broker_url):
    return broker_url
