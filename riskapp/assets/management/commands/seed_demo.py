"""Seed the demo organization with real, small models trained from bundled data (what `make run` calls).

Idempotent: running it again changes nothing that is already there, and trained artifacts are cached under
var/demo-cache/seed-<seed>/ so a second run is instant.

What it creates:
  - user ``demo`` (password settings.RISKAPP_DEMO_PASSWORD) owning organization "Demo Organization";
  - the built-in ``digits`` and ``breast_cancer`` splits (evaluation, training, holdout) as datasets;
  - assets, each linked to its built-in splits and validated synchronously (no worker needed):
      "Digits CNN"                         TorchScript, v1 current, plus "v2-weaker" (a smaller, briefly
                                            trained CNN) validated as a non-current candidate that
                                            monitoring can swap in with model_version_make_current;
      "Breast cancer logistic regression"  skops;
      "Breast cancer gradient boosting"    skops.

Extending the seed: other apps append steps to ``SEED_STEPS`` from their AppConfig.ready()::

    from riskapp.assets.management.commands.seed_demo import SEED_STEPS

    def seed_schedules(seed):  # seed: SeedContext
        asset = seed.assets["Digits CNN"]
        ...

    SEED_STEPS.append(seed_schedules)

A step receives a SeedContext (organization, user, assets by name, versions by (asset name, label), the
random seed, the artifact cache folder and ``say`` to print a line). Steps run in order and each must be
idempotent; they call services, which own their transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"
DEMO_ORGANIZATION = "Demo Organization"
DEMO_SLUG = "demo-organization"


@dataclass
class SeedContext:
    organization: object
    user: object
    seed: int
    cache_dir: Path
    say: Callable[[str], None]
    assets: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DemoModel:
    asset_name: str
    label: str
    filename: str
    format: str
    builtin: str
    input_shape: list
    nb_classes: int
    train: Callable  # (seed, path) -> None: trains and saves the artifact the way users are told to
    make_current: bool = True
    task: str = "image_classification"
    risk_tier: str = "limited"
    sector: str = "other"
    intended_use: str = ""
    class_names: tuple = ()


def _train_cnn(width: int, epochs: int):
    def train(seed: int, path: Path) -> None:
        from workers.engine import demo

        demo.save_torchscript(demo.train_digits_cnn(epochs=epochs, seed=seed, width=width), path)

    return train


def _train_skops(trainer_name: str):
    def train(seed: int, path: Path) -> None:
        from workers.engine import demo

        demo.save_skops(getattr(demo, trainer_name)(seed=seed), path)

    return train


DIGITS_USE = "Reads handwritten digits on scanned forms (demo model trained on scikit-learn's digits)."
CANCER_USE = "Flags breast-tumour measurements for clinician review (demo model on scikit-learn's breast cancer data)."
DEMO_MODELS = [
    DemoModel("Digits CNN", "v1", "digits_cnn.pt", "torchscript", "digits", [1, 8, 8], 10, _train_cnn(16, 12),
              intended_use=DIGITS_USE, class_names=tuple(str(d) for d in range(10))),
    DemoModel("Digits CNN", "v2-weaker", "digits_cnn_weaker.pt", "torchscript", "digits", [1, 8, 8], 10,
              _train_cnn(4, 2), make_current=False, intended_use=DIGITS_USE,
              class_names=tuple(str(d) for d in range(10))),
    DemoModel("Breast cancer logistic regression", "v1", "cancer_logreg.skops", "sklearn-skops", "breast_cancer",
              [30], 2, _train_skops("train_cancer_logreg"), task="tabular_classification", risk_tier="high",
              sector="healthcare", intended_use=CANCER_USE, class_names=("malignant", "benign")),
    DemoModel("Breast cancer gradient boosting", "v1", "cancer_gbc.skops", "sklearn-skops", "breast_cancer",
              [30], 2, _train_skops("train_cancer_gbc"), task="tabular_classification", risk_tier="high",
              sector="healthcare", intended_use=CANCER_USE, class_names=("malignant", "benign")),
]


def seed_organization(seed: SeedContext) -> None:
    from riskapp.accounts.models import Membership, Organization, Role
    from riskapp.accounts.services import organization_create, user_create

    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = user_create(username=DEMO_USERNAME, password=settings.RISKAPP_DEMO_PASSWORD, email="demo@example.com")
    elif not user.check_password(settings.RISKAPP_DEMO_PASSWORD):
        # The printed login must work: follow RISKAPP_DEMO_PASSWORD if it changed.
        user.set_password(settings.RISKAPP_DEMO_PASSWORD)
        user.save(update_fields=["password"])
    organization = Organization.objects.filter(slug=DEMO_SLUG).first()
    if organization is None:
        organization = organization_create(name=DEMO_ORGANIZATION, owner=user, slug=DEMO_SLUG)
    elif not Membership.objects.filter(user=user, organization=organization).exists():
        Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
    seed.organization, seed.user = organization, user


def _artifact(seed: SeedContext, model: DemoModel) -> Path:
    path = seed.cache_dir / model.filename
    if not path.is_file():
        started = time.monotonic()
        partial = path.with_suffix(path.suffix + ".partial")
        model.train(seed.seed, partial)
        partial.replace(path)  # a crash mid-training never leaves a half-written artifact in the cache
        seed.say(f"  trained {model.filename} in {time.monotonic() - started:.1f} s")
    return path


def seed_models(seed: SeedContext) -> None:
    from riskapp.assets import services
    from riskapp.assets.models import ModelAsset, ValidationStatus

    for model in DEMO_MODELS:
        asset = ModelAsset.objects.filter(organization=seed.organization, name=model.asset_name).first()
        if asset is None:
            asset = services.asset_create(organization=seed.organization, user=seed.user, name=model.asset_name,
                                          task=model.task, risk_tier=model.risk_tier, sector=model.sector,
                                          intended_use=model.intended_use, tags=["demo"])
        if asset.evaluation_dataset_id is None:
            asset = services.asset_link_builtin_datasets(asset=asset, builtin_name=model.builtin, user=seed.user)
        seed.assets[model.asset_name] = asset
        version = asset.versions.filter(label=model.label).first()
        if version is None:
            path = _artifact(seed, model)
            with open(path, "rb") as handle:
                version = services.model_version_create(
                    asset=asset, user=seed.user, artifact=File(handle, name=model.filename), format=model.format,
                    input_shape=model.input_shape, nb_classes=model.nb_classes, label=model.label,
                    class_names=list(model.class_names), make_current=model.make_current, enqueue=False)
        if version.status == ValidationStatus.PENDING:
            # Synchronously, in this process: the demo must be ready without a worker.
            version = services.model_version_validate(version_id=version.pk)
        seed.versions[(model.asset_name, model.label)] = version


def _validate_pending(seed: SeedContext) -> None:
    from riskapp.assets.models import ValidationStatus

    for key, version in seed.versions.items():
        version.refresh_from_db()
        if version.status != ValidationStatus.VALIDATED:
            seed.say(f"  {key[0]} {key[1]}: {version.get_status_display()} {version.status_reason}")


SEED_STEPS: list[Callable[[SeedContext], None]] = [seed_organization, seed_models]


class Command(BaseCommand):
    help = "Create the demo organization, user and real demo models (idempotent; trained artifacts are cached)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0, help="random seed for training the demo models")

    def handle(self, *args, seed: int, **options):
        cache_dir = Path(settings.VAR_DIR) / "demo-cache" / f"seed-{seed}"
        cache_dir.mkdir(parents=True, exist_ok=True)
        context = SeedContext(organization=None, user=None, seed=seed, cache_dir=cache_dir,
                              say=lambda line: self.stdout.write(line))
        started = time.monotonic()
        for step in SEED_STEPS:
            step(context)
        _validate_pending(context)
        self.stdout.write(f"Demo data ready in {time.monotonic() - started:.1f} s: "
                          f"{len(context.assets)} models in “{context.organization.name}”.")
        self.stdout.write(f"Login: {DEMO_USERNAME} / {settings.RISKAPP_DEMO_PASSWORD}")
