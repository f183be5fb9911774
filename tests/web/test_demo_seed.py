"""The `make run` demo's first look: after seed_demo the dashboard shows an assessed model, a real regression alert
and a generated ISO/IEC 42001 report; seeding again changes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_seeded_demo_dashboard_shows_an_assessed_model_an_alert_and_a_report(client):
    from riskapp.assessments.models import AssessmentRun
    from riskapp.compliance.models import Report
    from riskapp.monitoring.models import Alert

    call_command("seed_demo")
    runs = AssessmentRun.objects.filter(asset__name="Digits CNN", profile__slug="quick").order_by("created_at")
    assert [(r.version.label, r.status) for r in runs] == [("v1", "succeeded"), ("v2-weaker", "succeeded")]
    alert = Alert.objects.get(asset__name="Digits CNN")
    assert alert.status == "open" and (alert.baseline_run, alert.current_run) == (runs[0], runs[1])
    assert alert.diff and all(row["current"] != row["baseline"] for row in alert.diff)
    report = Report.objects.get(framework__slug="iso-42001", format="pdf")
    assert report.status == "succeeded" and report.file.open("rb").read(4) == b"%PDF"

    call_command("seed_demo")  # idempotent: nothing assessed, alerted or generated twice
    assert AssessmentRun.objects.count() == 2 and Alert.objects.count() == 1 and Report.objects.count() == 1

    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="demo"))
    html = client.get(reverse("web:dashboard")).content.decode()
    assert f'href="{reverse("monitoring:alert", args=[alert.pk])}"' in html
    assert f'href="{reverse("assessments:detail", args=[runs[1].pk])}"' in html
    assert 'data-testid="stat-report"' in html and 'data-testid="posture-chart"' in html
