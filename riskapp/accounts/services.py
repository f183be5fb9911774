"""Writes for organizations, memberships and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from riskapp.accounts.models import ApiToken, Membership, Organization, Role
from riskapp.audit.services import audit_record

TOKEN_PREFIX = "rsk_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def organization_create(*, name: str, owner, slug: str | None = None) -> Organization:
    base = slugify(slug or name)[:70] or "org"
    candidate, n = base, 1
    while Organization.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    organization = Organization(name=name, slug=candidate)
    organization.full_clean()
    organization.save()
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit_record(actor=owner, organization=organization, action="organization.create", obj=organization)
    return organization


@transaction.atomic
def membership_add(*, organization: Organization, user, role: str, actor) -> Membership:
    membership = Membership(organization=organization, user=user, role=role)
    membership.full_clean()
    membership.save()
    audit_record(actor=actor, organization=organization, action="membership.add", obj=membership,
                 details={"user": user.get_username(), "role": role})
    return membership


@transaction.atomic
def api_token_create(*, user, organization: Organization, name: str,
                     expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never stored and never shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, organization=organization, name=name, prefix=raw[:10],
                     key_hash=hash_token(raw), expires_at=expires_at)
    token.full_clean()
    token.save()
    audit_record(actor=user, organization=organization, action="api_token.create", obj=token,
                 details={"name": name, "prefix": token.prefix})
    return token, raw


def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, organization=token.organization, action="api_token.revoke", obj=token)
    return token


def user_create(*, username: str, password: str, email: str = "", **extra):
    User = get_user_model()
    user = User(username=username, email=email, **extra)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


FRESHNESS_DAYS_RANGE = (1, 3650)


@transaction.atomic
def organization_settings_update(*, organization: Organization, actor, freshness_days: int,
                                 store_screened_inputs: bool) -> Organization:
    """Change how long evidence stays fresh and whether screened inputs may be stored; audited with the change."""
    from django.core.exceptions import ValidationError

    low, high = FRESHNESS_DAYS_RANGE
    if not low <= int(freshness_days) <= high:
        raise ValidationError({"freshness_days": f"Give a number of days between {low} and {high}."})
    before = {"freshness_days": organization.freshness_days, "store_screened_inputs": organization.store_screened_inputs}
    organization.freshness_days = int(freshness_days)
    organization.store_screened_inputs = bool(store_screened_inputs)
    organization.full_clean()
    organization.save(update_fields=["freshness_days", "store_screened_inputs"])
    after = {"freshness_days": organization.freshness_days, "store_screened_inputs": organization.store_screened_inputs}
    changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changed:
        audit_record(actor=actor, organization=organization, action="organization.settings", obj=organization,
                     details=changed)
    return organization
