"""Register a model version from the command line (CI pipelines): validate it now and fail with the reason."""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from riskapp.accounts.models import Organization
from riskapp.assets import services
from riskapp.assets.intake import parse_shape
from riskapp.assets.models import (
    BuiltinDataset,
    ModelAsset,
    ModelFormat,
    RiskTier,
    Sector,
    Task,
    ValidationStatus,
)


def _clip(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise CommandError(f"--clip takes MIN,MAX, e.g. 0,1 (got {text!r}).")
    return low, high


class Command(BaseCommand):
    help = ("Register a model version (creating the asset when new), validate it synchronously and exit non-zero "
            "with the reason when it is rejected. Example: register_model --org acme --name 'Digits CNN' "
            "--format torchscript --file model.pt --input-shape 1,8,8 --classes 10 --clip 0,1 --dataset digits")

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--name", required=True, help="asset name; created when it does not exist")
        parser.add_argument("--format", required=True, choices=ModelFormat.values)
        parser.add_argument("--file", help="the exported model (not for --format endpoint)")
        parser.add_argument("--input-shape", required=True, help="per-sample input shape, e.g. 1,8,8 or 30")
        parser.add_argument("--classes", required=True, type=int, help="number of classes the model outputs")
        parser.add_argument("--clip", default="0,1", help="smallest and largest input value, e.g. 0,1")
        parser.add_argument("--label", default="", help="version label (default v1, v2, …)")
        parser.add_argument("--dataset", default="",
                            help=f"evaluation data: a built-in name ({', '.join(BuiltinDataset.values)}) or an "
                                 ".npz / .csv path")
        parser.add_argument("--label-column", default="label", help="label column of a CSV dataset")
        parser.add_argument("--candidate", action="store_true",
                            help="do not make this version current once validated")
        parser.add_argument("--task", choices=Task.values, help="default: image for 3-D inputs, else tabular")
        parser.add_argument("--risk-tier", choices=RiskTier.values, default=RiskTier.LIMITED)
        parser.add_argument("--sector", choices=Sector.values, default=Sector.OTHER)
        parser.add_argument("--user", help="username recorded as the one who registered it")
        parser.add_argument("--endpoint-url")
        parser.add_argument("--endpoint-auth-header-env",
                            help="name of an environment variable holding the endpoint's auth header value "
                                 "(secrets never go on the command line)")
        parser.add_argument("--endpoint-output-kind", choices=["probabilities", "labels"], default="probabilities")

    def handle(self, *args, **opts):
        organization = Organization.objects.filter(slug=opts["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug {opts['org']!r}.")
        user = None
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user {opts['user']!r}.")
        try:
            shape = parse_shape(opts["input_shape"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        clip_min, clip_max = _clip(opts["clip"])
        version_kwargs = {"format": opts["format"], "input_shape": shape, "nb_classes": opts["classes"],
                          "clip_min": clip_min, "clip_max": clip_max, "label": opts["label"],
                          "make_current": not opts["candidate"], "user": user, "enqueue": False}
        if opts["format"] == ModelFormat.ENDPOINT:
            if not opts["endpoint_url"]:
                raise CommandError("--format endpoint needs --endpoint-url.")
            secret = os.environ.get(opts["endpoint_auth_header_env"] or "", "") if opts["endpoint_auth_header_env"] else ""
            version_kwargs["endpoint"] = {"url": opts["endpoint_url"], "auth_header_value": secret,
                                          "output_kind": opts["endpoint_output_kind"]}
        elif not opts["file"]:
            raise CommandError(f"--format {opts['format']} needs --file.")

        try:
            with transaction.atomic():
                asset = ModelAsset.objects.filter(organization=organization, name=opts["name"]).first()
                if asset is None:
                    task = opts["task"] or (Task.IMAGE if len(shape) >= 2 else Task.TABULAR)
                    asset = services.asset_create(organization=organization, user=user, name=opts["name"], task=task,
                                                  risk_tier=opts["risk_tier"], sector=opts["sector"])
                    self.stdout.write(f"Created asset {asset.name!r} (id {asset.pk}).")
                if opts["dataset"]:
                    self._link_dataset(asset, opts, user)
                if opts["file"]:
                    path = Path(opts["file"])
                    if not path.is_file():
                        raise CommandError(f"No file {path}.")
                    with open(path, "rb") as handle:
                        version = services.model_version_create(asset=asset, artifact=File(handle, name=path.name),
                                                                **version_kwargs)
                else:
                    version = services.model_version_create(asset=asset, **version_kwargs)
        except ValidationError as exc:
            raise CommandError("Refused: " + " ".join(exc.messages))

        self.stdout.write(f"Uploaded version {version.label} (id {version.pk}, sha256 {version.sha256 or '-'}); "
                          "validating…")
        version = services.model_version_validate(version_id=version.pk)
        if version.status != ValidationStatus.VALIDATED:
            raise CommandError(f"Rejected: {version.status_reason}")
        current = " and is now the current version" if version.make_current else " (candidate, not current)"
        self.stdout.write(self.style.SUCCESS(
            f"Version {version.label} of {asset.name!r} is validated{current}. "
            f"Access: {'white-box' if version.white_box else 'black-box'}."))

    def _link_dataset(self, asset, opts, user) -> None:
        if opts["dataset"] in BuiltinDataset.values:
            services.asset_link_builtin_datasets(asset=asset, builtin_name=opts["dataset"], user=user)
            self.stdout.write(f"Linked the built-in {opts['dataset']} splits.")
            return
        path = Path(opts["dataset"])
        if not path.is_file():
            raise CommandError(f"--dataset is neither a built-in ({', '.join(BuiltinDataset.values)}) nor a file: {path}")
        with open(path, "rb") as handle:
            dataset = services.dataset_create(organization=asset.organization, user=user, name=path.name,
                                              role="evaluation", file=File(handle, name=path.name),
                                              label_column=opts["label_column"], enqueue=False)
        dataset = services.dataset_validate(dataset_id=dataset.pk)
        if dataset.status != ValidationStatus.VALIDATED:
            raise CommandError(f"Dataset rejected: {dataset.status_reason}")
        services.asset_update(asset=asset, user=user, evaluation_dataset=dataset)
        self.stdout.write(f"Linked evaluation data {path.name} ({dataset.sample_count} samples).")
