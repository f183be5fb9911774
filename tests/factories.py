"""factory_boy factories for the accounts layer; each app's tests add theirs in tests/<app>/factories.py.

MODEL_FACTORIES maps a model to the factory that builds one inside a given organization; the
tenancy route walker (tests/accounts/test_tenancy_routes.py) uses it to populate every API route.
"""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from riskapp.accounts.models import ApiToken, Membership, Organization, Role
from riskapp.audit.models import AuditEvent


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.ANALYST


# model class -> callable(organization, owner_user) that creates one instance in that organization.
# Apps register theirs from tests/<app>/factories.py via register_model_factory.
MODEL_FACTORIES: dict = {}


def register_model_factory(model):
    def decorator(build):
        MODEL_FACTORIES[model] = build
        return build

    return decorator


@register_model_factory(Organization)
def _organization(organization, user):
    return organization


@register_model_factory(ApiToken)
def _api_token(organization, user):
    from riskapp.accounts.services import api_token_create

    return api_token_create(user=user, organization=organization, name="factory token")[0]


@register_model_factory(AuditEvent)
def _audit_event(organization, user):
    from riskapp.audit.services import audit_record

    return audit_record(actor=user, organization=organization, action="factory.event")
