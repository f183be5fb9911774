"""Walk each organization's evidence hash chain and name the first record that does not match."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from riskapp.accounts.models import Organization
from riskapp.compliance.services import evidence_verify


class Command(BaseCommand):
    help = "Verify the hash chain of evidence records (all organizations, or one with --org). Exit 1 on a mismatch."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="only this organization (its slug)")

    def handle(self, *args, org=None, **options):
        organizations = Organization.objects.order_by("slug")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"No organization with slug {org!r}.")
        failed = False
        for organization in organizations:
            result = evidence_verify(organization=organization)
            if result.ok:
                self.stdout.write(f"{organization.slug}: OK, {result.records} records, head {result.head or '(empty)'}")
                continue
            failed = True
            bad = result.first_bad
            self.stderr.write(f"{organization.slug}: FAILED at record #{bad['seq']} (id {bad['id']}): {bad['reason']}")
        if failed:
            sys.exit(1)
