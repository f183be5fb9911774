"""An outsider sees no alerts, schedules or channels of another organization, in the API or on pages."""

from __future__ import annotations

import pytest

from tests.monitoring.factories import _channel, _schedule, make_alert


@pytest.fixture
def rows(organization, owner):
    return {"alert": make_alert(organization, owner), "schedule": _schedule(organization, owner),
            "channel": _channel(organization, owner)}


def test_outsider_lists_nothing_and_gets_404_on_details(rows, outsider_api):
    for collection, key in (("alerts", "alert"), ("schedules", "schedule"), ("channels", "channel")):
        assert outsider_api.get(f"/api/v1/{collection}/").json()["results"] == []
        assert outsider_api.get(f"/api/v1/{collection}/{rows[key].pk}/").status_code == 404
    assert outsider_api.post(f"/api/v1/alerts/{rows['alert'].pk}/resolve/", {"comment": "x"}).status_code == 404
    assert outsider_api.post(f"/api/v1/schedules/{rows['schedule'].pk}/pause/").status_code == 404
    assert outsider_api.post(f"/api/v1/channels/{rows['channel'].pk}/test/").status_code == 404


def test_outsider_pages_show_nothing_of_the_other_organization(rows, outsider_client):
    alert = rows["alert"]
    assert alert.title not in outsider_client.get("/monitoring/").content.decode()
    assert outsider_client.get(f"/monitoring/alerts/{alert.pk}/").status_code == 404
    assert outsider_client.post(f"/monitoring/alerts/{alert.pk}/resolve/", {"comment": "x"}).status_code == 404
    schedules = outsider_client.get("/monitoring/schedules/").content.decode()
    assert rows["schedule"].asset.name not in schedules
    assert outsider_client.post(f"/monitoring/schedules/{rows['schedule'].pk}/pause/").status_code == 404
    assert outsider_client.post(f"/monitoring/channels/{rows['channel'].pk}/test/").status_code == 404
    assert "ops@example.test" not in outsider_client.get("/settings/").content.decode()
    assert 'data-testid="alert-badge"' not in outsider_client.get("/").content.decode()


def test_owner_sees_them(rows, owner_api):
    assert [row["id"] for row in owner_api.get("/api/v1/alerts/").json()["results"]] == [rows["alert"].pk]
    assert [row["id"] for row in owner_api.get("/api/v1/schedules/").json()["results"]] == [rows["schedule"].pk]
    assert [row["id"] for row in owner_api.get("/api/v1/channels/").json()["results"]] == [rows["channel"].pk]
