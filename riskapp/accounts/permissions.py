"""DRF permissions: members read, analysts and up write, admins manage settings."""

from __future__ import annotations

from rest_framework import permissions

from riskapp.accounts.models import ROLE_RANK, Membership, Role
from riskapp.accounts.tenancy import organization_ids_for


def _rank_in(user, organization_id) -> int:
    role = Membership.objects.filter(user=user, organization_id=organization_id).values_list("role", flat=True).first()
    return -1 if role is None else ROLE_RANK[Role(role)]


class IsOrganizationMember(permissions.BasePermission):
    """Any member may read; writing needs at least `write_role` (analyst unless the view says otherwise)."""

    message = "Your role in this organization does not allow this action."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and organization_ids_for(request.user))

    def has_object_permission(self, request, view, obj) -> bool:
        org_id = view.organization_id_of(obj) if hasattr(view, "organization_id_of") else getattr(obj, "organization_id", None)
        if org_id is None or org_id not in organization_ids_for(request.user):
            return False
        if request.method in permissions.SAFE_METHODS and not getattr(view, "action_requires_write", False):
            return True
        minimum = getattr(view, "write_role", Role.ANALYST)
        return _rank_in(request.user, org_id) >= ROLE_RANK[Role(minimum)]


def can_write(user, organization_id, minimum: str = Role.ANALYST) -> bool:
    return _rank_in(user, organization_id) >= ROLE_RANK[Role(minimum)]
