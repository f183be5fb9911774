"""Create an organization with an owner (creating the owner user when a password is given)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from riskapp.accounts.services import organization_create, user_create


class Command(BaseCommand):
    help = "Create an organization and make --owner its owner."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="username of the owner")
        parser.add_argument("--password", help="create the owner with this password if the user does not exist")
        parser.add_argument("--email", default="")

    def handle(self, *args, name, owner, password, email, **options):
        User = get_user_model()
        user = User.objects.filter(username=owner).first()
        if user is None:
            if not password:
                raise CommandError(f"No user {owner!r}; pass --password to create it.")
            user = user_create(username=owner, password=password, email=email)
        organization = organization_create(name=name, owner=user)
        self.stdout.write(f"Created organization {organization.name!r} (slug {organization.slug}) owned by {owner}.")
