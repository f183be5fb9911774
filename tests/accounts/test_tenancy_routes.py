"""Every API route, discovered from the URL conf: an outsider gets 404 on details and sees nothing on lists.

Nothing here lists endpoints by hand. A new viewset is covered as soon as it is routed; if its model
has no factory registered in MODEL_FACTORIES (tests/<app>/factories.py), this test fails and says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import MODEL_FACTORIES


@dataclass
class ApiRoute:
    template: str  # e.g. "api/v1/assets/<pk>/versions/"
    pattern: URLPattern
    view_class: type
    actions: dict  # http method -> viewset action ({} for plain APIViews)

    @property
    def kwarg_names(self) -> list[str]:
        return _kwarg_names(self.template)

    @property
    def model(self):
        queryset = getattr(self.view_class, "queryset", None)
        if queryset is not None:
            return queryset.model
        return getattr(self.view_class, "tenancy_model", None)

    @property
    def methods(self) -> list[str]:
        if self.actions:
            return list(self.actions)
        return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(self.view_class, m)]

    def __str__(self) -> str:
        return self.template


def _kwarg_names(template: str) -> list[str]:
    names = []
    for part in template.split("<")[1:]:
        names.append(part.split(">")[0].split(":")[-1])
    return names


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def discover_api_routes() -> list[ApiRoute]:
    routes = []
    for template, pattern in _walk(get_resolver().url_patterns):
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", template)
        template = template.replace("^", "").replace("$", "").replace("\\Z", "")
        if not template.startswith("api/v1/") or template == "api/v1/":
            continue
        callback = pattern.callback
        view_class = getattr(callback, "cls", None)
        if view_class is None:
            continue
        routes.append(ApiRoute(template, pattern, view_class, dict(getattr(callback, "actions", None) or {})))
    return routes


def _url(route: ApiRoute, obj) -> str:
    url = "/" + route.template
    for name in route.kwarg_names:
        if name in ("pk", "id"):
            value = obj.pk
        elif name.endswith("_pk") or name.endswith("_id"):
            value = getattr(obj, name[:-3] + "_id")
        else:
            value = getattr(obj, name)
        url = _replace_kwarg(url, name, value)
    return url


def _replace_kwarg(url: str, name: str, value) -> str:
    start = url.index("<")
    end = url.index(">", start)
    assert url[start + 1 : end].split(":")[-1] == name
    return url[:start] + str(value) + url[end + 1 :]


def _payload(response) -> str:
    content = getattr(response, "content", b"")
    return content.decode(errors="replace") if content else ""


ROUTES = discover_api_routes()


def test_route_discovery_finds_the_api():
    templates = {r.template for r in ROUTES}
    assert "api/v1/organizations/" in templates
    assert "api/v1/tokens/<pk>/" in templates


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_outsider_cannot_reach_another_organizations_data(route, organization, owner, owner_api, outsider_api):
    model = route.model
    assert model is not None, (
        f"{route} has no queryset or tenancy_model: declare one so tenancy can be checked.")
    assert model in MODEL_FACTORIES, (
        f"No factory for {model.__name__}: register one with @register_model_factory in tests/<app>/factories.py.")
    obj = MODEL_FACTORIES[model](organization, owner)
    url = _url(route, obj)

    if route.kwarg_names:
        for method in route.methods:
            response = getattr(outsider_api, method)(url, data={}, format="json")
            assert response.status_code == 404, (
                f"outsider {method.upper()} {url} → {response.status_code}, expected 404: {_payload(response)[:300]}")
        if "get" in route.methods:
            owner_response = owner_api.get(url)
            assert owner_response.status_code == 200, (
                f"owner GET {url} → {owner_response.status_code}: the route walker built a wrong URL or the "
                f"factory object is not visible to its own organization: {_payload(owner_response)[:300]}")
    elif "get" in route.methods:
        response = outsider_api.get(url)
        assert response.status_code < 500
        body = _payload(response)
        if response.status_code == 200 and body.startswith(("{", "[")):
            data = json.loads(body)
            rows = data.get("results", data) if isinstance(data, dict) else data
            if isinstance(rows, list):
                leaked = [row for row in rows if isinstance(row, dict) and row.get("id") == obj.pk
                          and model.objects.filter(pk=obj.pk).exists()]
                assert not leaked, f"outsider GET {url} lists {model.__name__} #{obj.pk} of another organization"
        assert organization.slug not in body and organization.name not in body, (
            f"outsider GET {url} shows the other organization's name")
