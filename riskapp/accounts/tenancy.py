"""The one place that scopes querysets to the organizations a user belongs to."""

from __future__ import annotations

from django.db.models import Model, QuerySet

from riskapp.accounts.models import Membership, Organization


def organization_ids_for(user) -> list[int]:
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, "_riskapp_org_ids", None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user).values_list("organization_id", flat=True))
        user._riskapp_org_ids = cached
    return cached


def organizations_for(user) -> QuerySet[Organization]:
    return Organization.objects.filter(pk__in=organization_ids_for(user))


def scope_queryset(queryset: QuerySet, user, *, org_field: str = "organization") -> QuerySet:
    """Restrict `queryset` to rows whose `org_field` (a path like "asset__organization") is one of the user's organizations."""
    return queryset.filter(**{f"{org_field}__in": organization_ids_for(user)})


def membership_for(user, organization: Organization | int | None) -> Membership | None:
    if organization is None or user is None or not user.is_authenticated:
        return None
    org_id = organization.pk if isinstance(organization, Model) else organization
    return Membership.objects.filter(user=user, organization_id=org_id).first()


def role_in(user, organization, minimum: str) -> bool:
    membership = membership_for(user, organization)
    return membership is not None and membership.has_role(minimum)
