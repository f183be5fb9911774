"""The dashboard, the asset list and a compliance matrix issue the same number of queries at 3 and at 12 assets
(each with several runs): no query per asset or per run."""

from __future__ import annotations

import pytest
from bench.scale import get_counting_queries, page_paths, seed_assets

pytestmark = pytest.mark.django_db


def _query_counts(client) -> dict[str, int]:
    counts = {}
    for name, path in page_paths().items():
        client.get(path)  # first visit fills per-process caches
        response, counts[name] = get_counting_queries(client, path)
        assert response.status_code == 200, path
    return counts


def test_pages_issue_a_constant_number_of_queries_whatever_the_asset_count(owner_client, organization):
    seed_assets(organization, assets=3, runs_per_asset=3)
    small = _query_counts(owner_client)
    seed_assets(organization, assets=9, runs_per_asset=3, start=3)
    large = _query_counts(owner_client)
    content = owner_client.get("/assets/").content.decode()
    assert "Scale asset 11" in content and "Scale asset 0" in content  # the bigger page shows every asset
    assert all(count > 0 for count in small.values()), small
    assert large == small, {name: (small[name], large[name]) for name in small}
