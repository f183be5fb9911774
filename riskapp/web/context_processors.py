"""Navigation context for every page: sections, the user's organizations and the current one."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from riskapp.accounts.tenancy import organizations_for

# (label, url name). A section appears once its app provides the page.
NAV_SECTIONS = [
    ("Models", "assets:list"),
    ("Assessments", "assessments:list"),
    ("Compliance", "compliance:index"),
    ("Alerts", "monitoring:alerts"),
    ("Guide", "web:guide"),
    ("Settings", "web:settings"),
]
# The section whose badge refreshes itself while a run or validation could still open an alert.
LIVE_BADGE_SECTION = "monitoring:alerts"

# Apps add functions (request -> {url name: badge count}) to show counts next to a section (e.g. open alerts).
BADGE_PROVIDERS: list = []


def _badges(request) -> dict:
    badges: dict = {}
    for provider in BADGE_PROVIDERS:
        badges.update(provider(request))
    return badges


def alert_badge_context(request) -> dict:
    """What templates/web/_nav_badge.html needs: the open-alert count and whether it can still change."""
    from riskapp.web.selectors import something_can_change

    organization = getattr(request, "organization", None)
    return {"badge": _badges(request).get(LIVE_BADGE_SECTION, 0),
            "badge_live": something_can_change(organization=organization)}


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    badges = _badges(request)
    items = []
    for label, url_name in NAV_SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        item = {"label": label, "url": url, "name": url_name, "badge": badges.get(url_name, 0),
                "active": request.path.split("/")[1] == url.split("/")[1]}
        if url_name == LIVE_BADGE_SECTION:
            item.update(alert_badge_context(request) | {"live_badge": True})
        items.append(item)
    return {
        "nav_items": items,
        "nav_organizations": organizations_for(user),
        "current_organization": getattr(request, "organization", None),
    }
