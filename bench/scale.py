"""Scale: seed many assets × runs with bulk_create, then time the dashboard, the asset list and a compliance matrix
at 10, 100 and 1,000 assets; prints each page's query count (constant) and p95, and the cost per row shown."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ASSET_COUNTS = (10, 100, 1000)
RUNS_PER_ASSET = 10
REPEATS = int(os.environ.get("RISKAPP_BENCH_SCALE_REPEATS", "15"))


def seed_assets(organization, *, assets: int, runs_per_asset: int = RUNS_PER_ASSET, start: int = 0) -> None:
    """Assets with a validated version and finished runs (bulk inserts: seconds for 1,000 × 10).

    The rows are load for timing pages, labelled "Scale asset N"; they are never shown as measurements.
    """
    from django.utils import timezone

    from riskapp.assessments.models import AssessmentRun, CheckResult, Profile, RunStatus
    from riskapp.assets.models import Dataset, DatasetSource, ModelAsset, ModelVersion, ValidationStatus

    now = timezone.now()
    evaluation, _ = Dataset.objects.get_or_create(
        organization=organization, source=DatasetSource.BUILTIN, builtin_name="digits", role="evaluation",
        defaults={"name": "Digits (evaluation)", "sample_count": 360, "shape": [1, 8, 8], "nb_classes": 10,
                  "status": ValidationStatus.VALIDATED})
    profile = Profile.objects.get(organization__isnull=True, slug="quick")
    created = ModelAsset.objects.bulk_create([
        ModelAsset(organization=organization, name=f"Scale asset {start + i}", task="image_classification",
                   risk_tier=("minimal", "limited", "high")[i % 3], evaluation_dataset=evaluation)
        for i in range(assets)])
    if not created or created[0].pk is None:  # backends that do not return ids from bulk inserts
        created = list(ModelAsset.objects.filter(organization=organization, name__startswith="Scale asset ")
                       .order_by("-pk")[:assets])
    versions = ModelVersion.objects.bulk_create([
        ModelVersion(asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8], nb_classes=10,
                     status=ValidationStatus.VALIDATED, white_box=True, validated_at=now) for asset in created])
    if versions[0].pk is None:
        by_asset = {v.asset_id: v for v in ModelVersion.objects.filter(asset__in=created)}
        versions = [by_asset[a.pk] for a in created]
    for asset, version in zip(created, versions):
        asset.current_version = version
    ModelAsset.objects.bulk_update(created, ["current_version"])
    runs = []
    for asset, version in zip(created, versions):
        for r in range(runs_per_asset):
            finished = now - timedelta(days=runs_per_asset - r)
            runs.append(AssessmentRun(
                organization=organization, asset=asset, version=version, profile=profile,
                profile_snapshot=profile.spec, evaluation_dataset=evaluation, status=RunStatus.SUCCEEDED,
                progress=100, started_at=finished - timedelta(minutes=2), finished_at=finished, passed=r % 4 != 0,
                summary={"checks": {"passed": 2}, "robust_accuracy": 0.5 + (r % 5) / 20}))
    runs = AssessmentRun.objects.bulk_create(runs, batch_size=2000)
    if runs[0].pk is None:
        runs = list(AssessmentRun.objects.filter(asset__in=created))
    CheckResult.objects.bulk_create([
        CheckResult(run=run, kind="evasion.whitebox", order=0, status="passed",
                    metrics={"clean_accuracy": 0.9, "robust_accuracy": run.summary["robust_accuracy"]})
        for run in runs], batch_size=2000)


def page_paths() -> dict[str, str]:
    from riskapp.compliance.models import Framework

    framework = Framework.objects.order_by("order").values_list("slug", flat=True).first()
    return {"dashboard": "/", "asset list": "/assets/", f"compliance matrix ({framework})":
            f"/compliance/frameworks/{framework}/"}


def get_counting_queries(client, path: str):
    """(response, number of SQL statements the request executed), counted at the database cursor."""
    from django.db import connection

    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(path)
    return response, len(statements)


def time_pages(client, *, repeats: int = REPEATS) -> dict[str, dict]:
    out = {}
    for name, path in page_paths().items():
        client.get(path)  # warm caches (templates, catalog) once
        samples = []
        response, queries = get_counting_queries(client, path)
        assert response.status_code == 200, (path, response.status_code)
        for _ in range(repeats):
            started = time.perf_counter()
            client.get(path)
            samples.append(time.perf_counter() - started)
        samples.sort()
        out[name] = {"queries": queries, "p95_ms": 1000 * samples[max(0, int(round(0.95 * len(samples))) - 1)],
                     "median_ms": 1000 * statistics.median(samples), "bytes": len(response.content)}
    return out


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="riskapp-bench-scale-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder / 'scale.sqlite3'}")
    os.environ.setdefault("RISKAPP_MEDIA_ROOT", str(folder / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskapp.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from riskapp.accounts.models import Membership, Organization
    from django.contrib.auth import get_user_model

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    print(f"database: {connection.vendor} ({settings.DATABASES['default']['NAME']}), migrated in "
          f"{time.perf_counter() - started:.1f} s")
    organization = Organization.objects.create(name="Scale Org", slug=f"scale-{int(time.time())}")
    user = get_user_model().objects.create_user(username=f"scale-{organization.pk}", password="x" * 16)
    Membership.objects.create(user=user, organization=organization, role="owner")
    client = Client()
    client.force_login(user)

    seeded, results = 0, {}
    for count in ASSET_COUNTS:
        started = time.perf_counter()
        seed_assets(organization, assets=count - seeded, start=seeded)
        print(f"seeded {count - seeded} assets × {RUNS_PER_ASSET} runs in {time.perf_counter() - started:.1f} s")
        seeded = count
        results[count] = time_pages(client)

    print(f"\n{'page':<36}{'assets':>7}{'queries':>9}{'median ms':>11}{'p95 ms':>9}{'KiB':>8}{'ms/asset':>10}")
    for name in results[ASSET_COUNTS[0]]:
        for count in ASSET_COUNTS:
            row = results[count][name]
            print(f"{name:<36}{count:>7}{row['queries']:>9}{row['median_ms']:>11.1f}{row['p95_ms']:>9.1f}"
                  f"{row['bytes'] / 1024:>8.0f}{row['p95_ms'] / count:>10.3f}")
        small, large = results[ASSET_COUNTS[0]][name], results[ASSET_COUNTS[-1]][name]
        print(f"{'':<36}p95 ratio {ASSET_COUNTS[-1]}/{ASSET_COUNTS[0]} assets = "
              f"{large['p95_ms'] / small['p95_ms']:.1f}× for {ASSET_COUNTS[-1] // ASSET_COUNTS[0]}× the rows; "
              f"queries {small['queries']} → {large['queries']}")


if __name__ == "__main__":
    main()
