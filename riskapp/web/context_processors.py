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
    ("Settings", "web:settings"),
]

# Apps add functions (request -> {url name: badge count}) to show counts next to a section (e.g. open alerts).
BADGE_PROVIDERS: list = []


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    badges: dict = {}
    for provider in BADGE_PROVIDERS:
        badges.update(provider(request))
    items = []
    for label, url_name in NAV_SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "badge": badges.get(url_name, 0),
                      "active": request.path.split("/")[1] == url.split("/")[1]})
    return {
        "nav_items": items,
        "nav_organizations": organizations_for(user),
        "current_organization": getattr(request, "organization", None),
    }
