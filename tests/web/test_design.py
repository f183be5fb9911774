"""One design: status colours defined once for every status the product shows, static files served by the app with
nothing fetched from the internet, unique ids and a label for every form control, guidance linked both ways."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
APP_CSS = ROOT / "riskapp" / "web" / "static" / "riskapp" / "app.css"

# Markup that makes a browser fetch something: resource tags with a remote src/href, CSS url()/@import.
REMOTE_RESOURCE_TAG = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed|object|image|use)\b[^>]*?\b(src|href|data|srcset|xlink:href)"
    r"\s*=\s*[\"']?\s*(https?:)?//", re.IGNORECASE)
REMOTE_CSS = re.compile(r"(url\(\s*[\"']?\s*(https?:)?//|@import)", re.IGNORECASE)


def _status_values() -> dict[str, list[str]]:
    from riskapp.assessments.models import CheckStatus, RunStatus
    from riskapp.assets.models import RiskTier, ValidationStatus
    from riskapp.compliance.models import ControlStatus, ReportStatus
    from riskapp.monitoring.models import AlertStatus, DeliveryStatus, Severity

    enums = [RunStatus, CheckStatus, ValidationStatus, RiskTier, ControlStatus, ReportStatus, AlertStatus,
             DeliveryStatus, Severity]
    return {enum.__name__: list(enum.values) for enum in enums}


def test_every_status_the_product_shows_has_one_pill_colour():
    css = APP_CSS.read_text()
    missing = [f"{name}.{value}" for name, values in _status_values().items() for value in values
               if not re.search(rf"\.pill-{re.escape(value)}\b", css)]
    assert not missing, f"statuses without a pill colour in app.css: {missing}"
    # Defined once: a later rule must not give a status a second colour.
    for value in {v for values in _status_values().values() for v in values}:
        assert len(re.findall(rf"\.pill-{re.escape(value)}\b", css)) == 1, value


def test_no_template_stylesheet_or_script_fetches_from_the_internet():
    offenders = []
    for path in list((ROOT / "templates").rglob("*.html")):
        for match in REMOTE_RESOURCE_TAG.finditer(path.read_text()):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    for path in list((ROOT / "riskapp").rglob("static/**/*.css")):
        for match in REMOTE_CSS.finditer(path.read_text()):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    for path in list((ROOT / "riskapp").rglob("static/**/*.js")):
        for match in re.finditer(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", path.read_text(), re.IGNORECASE):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not offenders, offenders


def test_the_detector_catches_a_remote_script_and_font():
    assert REMOTE_RESOURCE_TAG.search('<script src="https://cdn.example.com/htmx.js"></script>')
    assert REMOTE_RESOURCE_TAG.search("<link rel=stylesheet href='//fonts.example.com/inter.css'>")
    assert REMOTE_CSS.search("@font-face { src: url(https://fonts.example.com/inter.woff2) }")
    assert not REMOTE_RESOURCE_TAG.search('<a href="https://www.standardwebhooks.com/">spec</a>')


@pytest.mark.django_db
def test_static_files_are_served_by_the_app(client):
    from django.templatetags.static import static

    for name, kind in (("riskapp/app.css", "text/css"), ("riskapp/app.js", "javascript")):
        response = client.get(static(name))
        assert response.status_code == 200, name
        assert kind in response["Content-Type"]


class _FormAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict] = []
        self.label_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit", "button"):
            self.controls.append({**attrs, "_tag": tag, "_in_label": self.label_depth > 0})

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1


def _audit(html: str) -> _FormAudit:
    audit = _FormAudit()
    audit.feed(html)
    return audit


@pytest.fixture
def populated(organization, owner):
    from tests.monitoring.factories import make_alert

    alert = make_alert(organization, owner)
    return {"asset": alert.asset, "alert": alert}


@pytest.mark.django_db
def test_pages_have_unique_ids_and_a_label_for_every_form_control(owner_client, populated):
    asset = populated["asset"]
    pages = [reverse("web:dashboard"), reverse("web:settings"), reverse("web:guide"),
             reverse("assets:list"), reverse("assets:register"), reverse("assets:detail", args=[asset.pk]),
             reverse("assets:version-upload", args=[asset.pk]), reverse("assessments:list"),
             reverse("compliance:index"), reverse("compliance:reports"),
             reverse("compliance:framework", args=["iso-42001"]), reverse("monitoring:alerts"),
             reverse("monitoring:alert", args=[populated["alert"].pk]), reverse("monitoring:schedules")]
    problems = []
    for url in pages:
        response = owner_client.get(url)
        assert response.status_code == 200, url
        audit = _audit(response.content.decode())
        duplicates = sorted({i for i in audit.ids if audit.ids.count(i) > 1})
        if duplicates:
            problems.append(f"{url}: duplicate ids {duplicates}")
        for control in audit.controls:
            labelled = (control["_in_label"] or control.get("id") in audit.label_for or control.get("aria-label")
                        or control.get("aria-labelledby") or control.get("title"))
            if not labelled:
                problems.append(f"{url}: unlabelled <{control['_tag']} name={control.get('name')}>")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_guide_explains_each_check_and_links_to_the_controls_it_evidences_and_back(owner_client):
    from riskapp.compliance.models import MappingRule

    html = owner_client.get(reverse("web:guide")).content.decode()
    assert 'id="check-evasion.whitebox"' in html and 'id="epsilon"' in html and 'id="sanity"' in html
    rule = next(r for r in MappingRule.objects.filter(retired_at__isnull=True)
                if "evasion.whitebox" in r.kinds and r.controls.exists())
    control = rule.controls.select_related("framework").first()
    control_url = reverse("compliance:control", args=[control.framework.slug, control.ref_id])
    assert f'href="{control_url}"' in html
    back = owner_client.get(control_url).content.decode()
    assert f'href="{reverse("web:guide")}#check-evasion.whitebox"' in back


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["web:dashboard", "assets:list", "assessments:list", "monitoring:alerts",
                                      "monitoring:schedules", "compliance:reports"])
def test_an_empty_organization_sees_what_to_do_next(owner_client, url_name):
    html = owner_client.get(reverse(url_name)).content.decode()
    empty = re.search(r'<div class="[^"]*\bempty\b[^"]*"[^>]*>(.*?)</div>', html, re.DOTALL)
    assert empty, f"{url_name} has no empty state"
    assert re.search(r"<a |<strong>", empty.group(1)), f"{url_name}: the empty state names no next step"
