"""Writes for assessments: profiles, creating and enqueuing runs, executing them in a worker, cancelling, reaping."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from riskapp.assessments.models import (
    AssessmentRun,
    CheckResult,
    Profile,
    RunStatus,
    RunTrigger,
)
from riskapp.assets.models import Dataset, DatasetSource, ModelAsset, ModelVersion, ValidationStatus
from riskapp.audit.services import audit_record

logger = logging.getLogger(__name__)

# Built-in profiles: slug -> (display name, description). Their suites come from workers.engine.suite.PROFILES.
BUILTIN_PROFILE_TEXT = {
    "quick": (
        "Quick",
        "FGSM and PGD over a small ε grid, a small black-box budget and data integrity, with the sanity checks "
        "that catch a dishonest evaluation. About a minute on CPU for the demo models.",
    ),
    "standard": (
        "Standard",
        "Every check that applies to the model: evasion, poisoning, data scan, extraction, membership and "
        "attribute inference, hardening and runtime detectors.",
    ),
    "thorough": (
        "Thorough",
        "Standard with larger ε grids, more PGD steps, AutoAttack and bigger black-box budgets. Hours on CPU; "
        "meant for GPU workers and release gates.",
    ),
}

# Progress is written to the row at most once per PROGRESS_MIN_INTERVAL_S; cancellation is re-read as often.
PROGRESS_MIN_INTERVAL_S = 1.0
CANCEL_POLL_INTERVAL_S = 1.0
# A queued run whose message may have been lost is sent again after DISPATCH_AFTER, then after 2×, 4×, … that:
# a duplicate message is harmless (the claim lets only one through) but there is no point piling them up.
DISPATCH_AFTER = timedelta(minutes=5)
DISPATCH_MAX_BACKOFF = timedelta(hours=2)
# A run created moments ago may still be about to publish its message from transaction.on_commit.
DISPATCH_GRACE = timedelta(seconds=30)

# --- profiles ---------------------------------------------------------------------------------------------


def profiles_builtin_sync(*, profile_model=Profile) -> int:
    """Create or update the built-in profiles from workers.engine.suite.PROFILES; returns how many were written.

    Called by a data migration (with the historical model) and after every migrate, so a code change to
    PROFILES reaches every database without a new migration.
    """
    from workers.engine.suite import PROFILES
    from workers.engine.types import SuiteSpec

    written = 0
    for slug, raw in PROFILES.items():
        name, description = BUILTIN_PROFILE_TEXT.get(slug, (slug.title(), ""))
        spec = SuiteSpec.from_dict(raw).to_dict()
        profile = profile_model.objects.filter(organization__isnull=True, slug=slug).first()
        if profile is None:
            profile_model.objects.create(organization=None, slug=slug, name=name, description=description,
                                         spec=spec, is_builtin=True)
            written += 1
        elif (profile.spec, profile.name, profile.description, profile.is_builtin) != (spec, name, description, True):
            profile.spec, profile.name, profile.description, profile.is_builtin = spec, name, description, True
            profile.save(update_fields=["spec", "name", "description", "is_builtin"])
            written += 1
    return written


def profile_spec_validate(spec) -> dict:
    """The normalised suite of a custom profile, or ValidationError naming what is wrong with it."""
    from workers.engine.checks import KIND_MODULES
    from workers.engine.types import SuiteSpec

    try:
        suite = SuiteSpec.from_dict(spec)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"spec": [f"Not a valid suite: {exc}."]}) from exc
    unknown = [c.kind for c in suite.checks if c.kind not in KIND_MODULES]
    if unknown:
        raise ValidationError({"spec": [f"Unknown check kind(s): {', '.join(unknown)}. Known kinds: "
                                        f"{', '.join(KIND_MODULES)}."]})
    kinds = [c.kind for c in suite.checks]
    duplicates = sorted({k for k in kinds if kinds.count(k) > 1})
    if duplicates:
        raise ValidationError({"spec": [f"Each check may appear once; repeated: {', '.join(duplicates)}."]})
    return suite.to_dict()


def _tolerances_validate(tolerances) -> dict:
    if tolerances in (None, ""):
        return {}
    if not isinstance(tolerances, dict):
        raise ValidationError({"tolerances": ["Tolerances must be an object {metric: allowed worsening}."]})
    for metric, value in tolerances.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
            raise ValidationError({"tolerances": [f"Tolerance for {metric!r} must be a number ≥ 0."]})
    return dict(tolerances)


def profile_create(*, organization, slug: str, name: str, spec: dict, description: str = "",
                   tolerances: dict | None = None, user=None) -> Profile:
    profile = Profile(organization=organization, slug=slug, name=name, description=description,
                      spec=profile_spec_validate(spec), tolerances=_tolerances_validate(tolerances), is_builtin=False)
    profile.full_clean()
    profile.save()
    audit_record(actor=user, organization=organization, action="profile.create", obj=profile,
                 details={"slug": slug})
    return profile


def profile_update(*, profile: Profile, user=None, **changes) -> Profile:
    if profile.is_builtin:
        raise ValidationError("Built-in profiles cannot be changed; create a custom profile from a copy of its suite.")
    allowed = {"slug", "name", "description", "spec", "tolerances"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))} of a profile.")
    if "spec" in changes:
        changes["spec"] = profile_spec_validate(changes["spec"])
    if "tolerances" in changes:
        changes["tolerances"] = _tolerances_validate(changes["tolerances"])
    for field, value in changes.items():
        setattr(profile, field, value)
    profile.full_clean()
    profile.save()
    audit_record(actor=user, organization=profile.organization, action="profile.update", obj=profile,
                 details={"fields": sorted(changes)})
    return profile


def profile_delete(*, profile: Profile, user=None) -> None:
    if profile.is_builtin:
        raise ValidationError("Built-in profiles cannot be deleted.")
    if profile.runs.exists():
        raise ValidationError("This profile has runs; it is kept so their results stay explainable.")
    audit_record(actor=user, organization=profile.organization, action="profile.delete", obj=profile,
                 details={"slug": profile.slug})
    profile.delete()


# --- creating and enqueuing runs ---------------------------------------------------------------------------


def _shape_compatible(dataset_shape: list, input_shape: list) -> bool:
    if not dataset_shape or not input_shape:
        return True  # not yet known on one side: the worker checks again when it loads the arrays
    if list(dataset_shape) == list(input_shape):
        return True
    # A CSV row of N features fits an input of any shape with N values (load_csv reshapes it).
    return len(dataset_shape) == 1 and math.prod(dataset_shape) == math.prod(input_shape)


def _dataset_errors(dataset: Dataset | None, *, field: str, asset: ModelAsset, version: ModelVersion | None,
                    required: bool) -> list[str]:
    if dataset is None:
        return ["Choose an evaluation dataset (or set the asset's default)."] if required else []
    label = f"Dataset “{dataset.name}”"
    if dataset.organization_id != asset.organization_id:
        return [f"{label} belongs to another organization."]
    if dataset.status != ValidationStatus.VALIDATED:
        state = "is still being validated" if dataset.status == ValidationStatus.PENDING else "was rejected"
        return [f"{label} {state}; only validated datasets can be assessed."]
    errors = []
    if version is not None and not _shape_compatible(dataset.shape, version.input_shape):
        errors.append(f"{label} has samples of shape {tuple(dataset.shape)}, the model expects "
                      f"{tuple(version.input_shape)}.")
    if version is not None and dataset.nb_classes and dataset.nb_classes > version.nb_classes:
        errors.append(f"{label} has labels up to {dataset.nb_classes - 1}; the model has {version.nb_classes} classes.")
    return errors


def run_create(*, asset: ModelAsset, profile: Profile, user=None, version: ModelVersion | None = None,
               evaluation_dataset: Dataset | None = None, training_dataset: Dataset | None = None,
               holdout_dataset: Dataset | None = None, seed: int = 0, trigger: str = RunTrigger.MANUAL,
               rerun_of: AssessmentRun | None = None, profile_snapshot: dict | None = None,
               enqueue: bool = True) -> AssessmentRun:
    """Validate, write the run as queued and enqueue it after the transaction commits.

    `enqueue=False` is for a caller that executes the run itself at once (the demo seed): no broker message is
    left behind for a worker to find, already finished, at its next start.

    Defaults: the asset's current version and its default datasets. `profile_snapshot` is for re-runs,
    which repeat the exact suite of the original run even if the profile changed since.
    """
    from workers.engine.suite import suite_spec

    version = version or asset.current_version
    evaluation_dataset = evaluation_dataset or asset.evaluation_dataset
    training_dataset = training_dataset or asset.training_dataset
    holdout_dataset = holdout_dataset or asset.holdout_dataset

    errors: dict[str, list[str]] = {}
    if profile.organization_id is not None and profile.organization_id != asset.organization_id:
        errors["profile"] = ["This profile belongs to another organization."]
    if version is None:
        errors["version"] = ["The asset has no validated model version yet: upload one and wait for validation."]
    elif version.asset_id != asset.pk:
        errors["version"] = ["This version belongs to another asset."]
    elif version.status != ValidationStatus.VALIDATED:
        state = "is still being validated" if version.status == ValidationStatus.PENDING else "was rejected"
        errors["version"] = [f"Version {version.label} {state}; only validated versions can be assessed."]
    checked_version = version if "version" not in errors else None
    for field, dataset, required in (("evaluation_dataset", evaluation_dataset, True),
                                     ("training_dataset", training_dataset, False),
                                     ("holdout_dataset", holdout_dataset, False)):
        problems = _dataset_errors(dataset, field=field, asset=asset, version=checked_version, required=required)
        if problems:
            errors[field] = problems
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        errors["seed"] = ["The seed must be a whole number between 0 and 2147483647."]
    if errors:
        raise ValidationError(errors)

    if profile_snapshot is None:
        try:
            profile_snapshot = suite_spec(profile.spec, risk_tier=asset.risk_tier).to_dict()
        except ValueError as exc:
            raise ValidationError({"profile": [f"The profile's suite is not valid: {exc}."]}) from exc

    with transaction.atomic():
        run = AssessmentRun(
            organization=asset.organization, asset=asset, version=version, profile=profile,
            profile_snapshot=profile_snapshot, evaluation_dataset=evaluation_dataset,
            training_dataset=training_dataset, holdout_dataset=holdout_dataset, seed=seed, trigger=trigger,
            rerun_of=rerun_of, requested_by=user if getattr(user, "is_authenticated", False) else None,
            status=RunStatus.QUEUED, current_step="Waiting for a worker",
        )
        run.full_clean()
        run.save()
        audit_record(actor=user, organization=asset.organization, action="run.create", obj=run,
                     details={"asset": asset.pk, "version": version.pk, "profile": profile.slug, "seed": seed,
                              "trigger": trigger, "rerun_of": rerun_of.pk if rerun_of else None})
        run_id = run.pk
        if enqueue:
            transaction.on_commit(lambda: run_enqueue(run_id=run_id))
    return run


def _note(run_id: int, text: str) -> None:
    with transaction.atomic():
        run = AssessmentRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return
        run.notes = [*run.notes, {"at": timezone.now().isoformat(timespec="seconds"), "text": text}]
        run.save(update_fields=["notes"])


def run_enqueue(*, run_id: int) -> bool:
    """Publish the run's task on its queue; if the broker cannot be reached the run stays queued with a note.

    The dispatcher (runs_dispatch_queued) sends it again later, so a broker outage delays runs, never loses them.
    """
    from workers.celery import assessment_queue
    from workers.tasks import run_assessment

    run = AssessmentRun.objects.select_related("version").filter(pk=run_id, status=RunStatus.QUEUED).first()
    if run is None:
        return False
    queue = assessment_queue(framework=run.version.framework)
    previous_enqueued_at = run.enqueued_at
    AssessmentRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now(),
                                                   enqueue_attempts=F("enqueue_attempts") + 1)
    try:
        run_assessment.apply_async(args=[run_id], queue=queue)
    except Exception as exc:  # kombu/redis raise many types for "broker unreachable"; all mean the same here
        logger.exception("Could not publish run %s to queue %s", run_id, queue)
        AssessmentRun.objects.filter(pk=run_id).update(enqueued_at=previous_enqueued_at)
        _note(run_id, f"The task queue could not be reached ({type(exc).__name__}: {exc}). The run stays queued "
                      "and is sent again automatically.")
        return False
    return True


def runs_dispatch_queued(*, now=None) -> list[int]:
    """Send again the queued runs no worker has claimed: never published, or published long ago."""
    now = now or timezone.now()
    candidates = AssessmentRun.objects.filter(status=RunStatus.QUEUED, cancel_requested=False).filter(
        Q(enqueued_at__isnull=True, created_at__lt=now - DISPATCH_GRACE) | Q(enqueued_at__lt=now - DISPATCH_AFTER)
    ).values_list("pk", "enqueued_at", "enqueue_attempts")
    sent = []
    for run_id, enqueued_at, attempts in candidates:
        if enqueued_at is not None:
            backoff = min(DISPATCH_AFTER * (2 ** max(attempts - 1, 0)), DISPATCH_MAX_BACKOFF)
            if enqueued_at > now - backoff:
                continue
        if run_enqueue(run_id=run_id):
            sent.append(run_id)
    if sent:
        logger.info("Dispatched queued runs again: %s", sent)
    return sent


# --- executing a run in a worker ---------------------------------------------------------------------------


class DatabaseLost(OperationalError):
    """The database connection dropped mid-run (e.g. a restart). Nothing was stored; the task retries the run.

    `claim` identifies this worker's claim (its host and claim time) so that only the retry of this very
    delivery may take the run back; any other worker, and a run the reaper already failed, stay untouched.
    """

    def __init__(self, message: str, *, claim: dict):
        super().__init__(message)
        self.claim = claim


class RunFailure(Exception):
    """A reason to fail the run that a person can act on (bad artifact, unreadable data, no GPU)."""


class _TimeLimitReached(Exception):
    pass


def _worker_host() -> str:
    return socket.gethostname()[:200]


class _ProgressWriter:
    """Streams engine progress to the row, at most one write per PROGRESS_MIN_INTERVAL_S; each write is a heartbeat.

    A report that arrives too soon is kept as pending and flushed by the heartbeat thread, so the step shown is
    the one running now (a long PGD right after a quick FGSM), not the last one that happened to be written.
    """

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.last_write = time.monotonic()
        self.pending: tuple[int, str] | None = None
        self.lock = threading.Lock()

    def report(self, fraction: float, step: str) -> None:
        percent = max(0, min(99, int(fraction * 100)))
        with self.lock:
            self.pending = (percent, step[:200])
            if time.monotonic() - self.last_write >= PROGRESS_MIN_INTERVAL_S:
                self._flush_locked()

    def flush_pending(self) -> None:
        with self.lock:
            if self.pending is not None and time.monotonic() - self.last_write >= PROGRESS_MIN_INTERVAL_S:
                self._flush_locked()

    def beat(self, interval_s: float) -> None:
        with self.lock:
            if time.monotonic() - self.last_write >= interval_s:
                self._update()

    def write(self, **fields) -> None:
        with self.lock:
            self._update(**fields)

    def _flush_locked(self) -> None:
        percent, step = self.pending
        self.pending = None
        self._update(progress=percent, current_step=step)

    def _update(self, **fields) -> None:
        self.last_write = time.monotonic()
        AssessmentRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
            heartbeat_at=timezone.now(), **fields)


class _Heartbeat:
    """A background thread that flushes pending progress and beats while a step reports nothing for a long time
    (one big attack on a big model). A dead process stops it too, which is what the reaper looks for."""

    def __init__(self, writer: _ProgressWriter, interval_s: float):
        self.writer = writer
        self.interval_s = interval_s
        # Rows written inside the caller's still-open transaction are invisible to this thread's own connection
        # (tests that run the service inline); beating from here would only wait on the database lock then.
        self.caller_connection = connections[DEFAULT_DB_ALIAS]  # the object, not the per-thread proxy
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"run-{writer.run_id}-heartbeat", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(PROGRESS_MIN_INTERVAL_S):
                if self.caller_connection.in_atomic_block:
                    continue
                try:
                    self.writer.flush_pending()
                    self.writer.beat(self.interval_s)
                except Exception:  # a missed beat is retried next time; the reaper allows many
                    logger.warning("Progress of run %s could not be written", self.writer.run_id, exc_info=True)
        finally:
            connection.close()


class _StopSignal:
    """should_stop for the engine: true once cancellation was requested (re-read from the row, throttled),
    the run is no longer ours (reaped), or the soft time limit is near."""

    def __init__(self, run_id: int, deadline: float):
        self.run_id = run_id
        self.deadline = deadline
        self.last_read = 0.0
        self.stop = False
        self.time_limit_reached = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now >= self.deadline:
            self.time_limit_reached = True
            return True
        if not self.stop and now - self.last_read >= CANCEL_POLL_INTERVAL_S:
            self.last_read = now
            row = AssessmentRun.objects.filter(pk=self.run_id).values_list("cancel_requested", "status").first()
            self.stop = row is None or row[0] or row[1] != RunStatus.RUNNING
        return self.stop


def _dataset_arrays(dataset: Dataset, version: ModelVersion):
    """(x, y, content SHA-256) of a registered dataset, shaped for the model.

    The hash is over the arrays as validation loaded them (before any reshape), so it is comparable with the
    dataset's registered content_sha256 whatever the file format.
    """
    import numpy as np

    from riskapp.assets.selectors import dataset_arrays
    from workers.engine.data import DataError, array_sha256, validate_arrays

    try:
        x, y = dataset_arrays(dataset=dataset)
        digest = array_sha256(x, y)
        input_shape = tuple(int(d) for d in version.input_shape)
        if input_shape and tuple(x.shape[1:]) != input_shape and int(np.prod(x.shape[1:])) == int(np.prod(input_shape)):
            x = x.reshape(len(x), *input_shape)
        x, y = validate_arrays(x, y, input_shape=input_shape or None, nb_classes=version.nb_classes)
    except DataError as exc:
        raise RunFailure(f"Dataset “{dataset.name}” could not be used: {exc}") from exc
    except FileNotFoundError as exc:
        raise RunFailure(f"Dataset “{dataset.name}” is missing from storage ({exc}); upload it again.") from exc
    return x, y, digest


def _registered_hash(dataset: Dataset) -> str | None:
    return getattr(dataset, "content_sha256", "") or (dataset.sha256 if dataset.source == DatasetSource.BUILTIN
                                                      else "") or None


def _suite_data(run: AssessmentRun):
    from workers.engine.types import SuiteData

    version = run.version
    x_eval, y_eval, eval_sha = _dataset_arrays(run.evaluation_dataset, version)
    data = SuiteData(x_eval=x_eval, y_eval=y_eval, eval_sha256=eval_sha,
                     registered_eval_sha256=_registered_hash(run.evaluation_dataset))
    if run.training_dataset is not None:
        data.x_train, data.y_train, data.train_sha256 = _dataset_arrays(run.training_dataset, version)
    if run.holdout_dataset is not None:
        data.x_holdout, data.y_holdout, data.holdout_sha256 = _dataset_arrays(run.holdout_dataset, version)
    return data


HEADLINE_METRICS = {
    "evasion.whitebox": ["clean_accuracy", "robust_accuracy", "reference_epsilon", "breaking_epsilon",
                         "attack_success_rate"],
    "evasion.blackbox": [("success_rate", "blackbox_success_rate")],
    "inference.membership": [("auc", "membership_auc"), ("advantage", "membership_advantage")],
    "extraction": [("agreement", "extraction_agreement"), ("stolen_accuracy", "extraction_stolen_accuracy")],
    "poisoning.backdoor": [("attack_success_rate", "backdoor_success_rate")],
}


def run_summary(result) -> dict:
    """Headline metrics of a suite result for lists, dashboards and monitoring baselines."""
    summary: dict = {"checks": {}}
    for check in result.checks:
        summary["checks"][check.status] = summary["checks"].get(check.status, 0) + 1
        for entry in HEADLINE_METRICS.get(check.kind, []):
            source, target = entry if isinstance(entry, tuple) else (entry, entry)
            value = check.metrics.get(source)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                summary[target] = value
    return summary


def _time_limit_message() -> str:
    return (f"The assessment ran past its time limit of {settings.RISKAPP_TASK_SOFT_TIME_LIMIT} s "
            "(RISKAPP_TASK_SOFT_TIME_LIMIT) and was stopped. Use a smaller profile, fewer samples, a GPU worker, "
            "or raise the limit.")


def _finish_failed(run_id: int, message: str) -> bool:
    updated = AssessmentRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error=message[:5000])
    if updated:
        run = AssessmentRun.objects.get(pk=run_id)
        audit_record(actor="system", organization=run.organization, action="run.fail", obj=run,
                     details={"error": message[:500]})
    return bool(updated)


def _finish_cancelled(run_id: int) -> None:
    updated = AssessmentRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now())
    if updated:
        run = AssessmentRun.objects.get(pk=run_id)
        audit_record(actor="system", organization=run.organization, action="run.cancelled", obj=run,
                     details={"at_step": run.current_step})


def _store_results(run: AssessmentRun, result) -> bool:
    """Results and outcome in one transaction; a re-delivered or reaped run never writes twice."""
    from workers.engine.device import device_description

    try:
        device = device_description(result.device)
    except Exception:  # describing a GPU needs the driver; the id alone is still the truth
        device = result.device
    with transaction.atomic():
        updated = AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), heartbeat_at=timezone.now(), progress=100,
            current_step="Finished", passed=result.passed, unreliable=result.unreliable,
            unreliable_reasons=list(result.unreliable_reasons), versions=result.versions,
            artifact_sha256=result.model_sha256 or "", data_hashes=result.data_hashes, device=device[:60],
            summary=run_summary(result),
        )
        if updated != 1:
            return False
        for order, check in enumerate(result.checks):
            CheckResult.objects.update_or_create(
                run=run, kind=check.kind,
                defaults={"order": order, "status": check.status, "metrics": check.metrics,
                          "thresholds": check.thresholds, "verdict": check.verdict, "parameters": check.parameters,
                          "seed": check.seed, "duration_s": check.duration_s, "queries": check.queries,
                          "reason": check.reason},
            )
        audit_record(actor="system", organization=run.organization, action="run.succeed", obj=run,
                     details={"passed": result.passed, "unreliable": result.unreliable})
    return True


def _run_follow_ups(run: AssessmentRun) -> None:
    """Evidence, then regression check; a failure in one is logged and noted on the run, never loses results."""
    try:
        from riskapp.compliance.services import evidence_record_for_run

        evidence_record_for_run(run=run)
    except Exception as exc:
        logger.exception("Recording compliance evidence for run %s failed", run.pk)
        _note(run.pk, f"Compliance evidence could not be recorded: {type(exc).__name__}: {exc}")
    try:
        from riskapp.monitoring.services import regression_check

        regression_check(run=run)
    except Exception as exc:
        logger.exception("Regression check for run %s failed", run.pk)
        _note(run.pk, f"The regression check against the baseline failed: {type(exc).__name__}: {exc}")


def run_execute(*, run_id: int, resume_claim: dict | None = None) -> AssessmentRun | None:
    """Claim the run (queued → running), run the engine with live progress, store results; None if not claimed.

    `resume_claim` (from DatabaseLost) lets the retry of a delivery that lost its database connection take back
    the run it had claimed, provided the run is still running under that same claim.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    from riskapp.assets.selectors import model_version_handle
    from workers.engine.device import DeviceError, resolve_device
    from workers.engine.loaders import ModelLoadError
    from workers.engine.suite import run_suite
    from workers.engine.types import Cancelled

    now = timezone.now()
    claimable = Q(status=RunStatus.QUEUED)
    if resume_claim:
        claimable |= Q(status=RunStatus.RUNNING, worker_host=resume_claim["worker_host"],
                       started_at=datetime.fromisoformat(resume_claim["started_at"]))
    claimed = AssessmentRun.objects.filter(claimable, pk=run_id, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker_host=_worker_host(), progress=0,
        current_step="Loading the model and data", error="", finished_at=None,
    )
    if claimed != 1:
        logger.info("Run %s was not claimed: another worker has it, or it is no longer queued", run_id)
        return None
    run = AssessmentRun.objects.select_related(
        "organization", "asset", "version", "version__endpoint", "evaluation_dataset", "training_dataset",
        "holdout_dataset",
    ).get(pk=run_id)
    audit_record(actor="system", organization=run.organization, action="run.start", obj=run,
                 details={"worker_host": run.worker_host})

    writer = _ProgressWriter(run_id)
    stop = _StopSignal(run_id, deadline=time.monotonic() + settings.RISKAPP_TASK_SOFT_TIME_LIMIT)
    heartbeat_interval = max(1.0, min(30.0, settings.RISKAPP_HEARTBEAT_TIMEOUT / 5))
    try:
        with _Heartbeat(writer, heartbeat_interval):
            try:
                device = resolve_device(settings.RISKAPP_DEVICE)
            except DeviceError as exc:
                raise RunFailure(f"The worker cannot use the configured device: {exc}.") from exc
            data = _suite_data(run)
            try:
                with model_version_handle(run.version, device=device, sample=data.x_eval) as model:
                    if run.version.sha256 and model.sha256 and model.sha256 != run.version.sha256:
                        raise RunFailure(f"The stored artifact's SHA-256 {model.sha256} differs from the registered "
                                         f"{run.version.sha256}: it changed after upload and is not assessed.")
                    writer.write(device=model.device[:60], current_step="Starting the checks")
                    # The screening app stores the detector when the suite has detection.train (else: run_suite as is).
                    from riskapp.screening.services import run_suite_storing_detector

                    result = run_suite_storing_detector(run=run, run_suite=lambda suite: run_suite(
                        model, data, suite, seed=run.seed, progress=writer.report, should_stop=stop))
            except ModelLoadError as exc:
                raise RunFailure(f"The model could not be loaded: {exc}") from exc
            except FileNotFoundError as exc:
                raise RunFailure(f"The model artifact is missing from storage ({exc}); upload the version again.") from exc
        if any(check.reason.startswith("SoftTimeLimitExceeded") for check in result.checks):
            raise _TimeLimitReached()
    except Cancelled:
        if stop.time_limit_reached:
            _finish_failed(run_id, _time_limit_message())
        else:
            _finish_cancelled(run_id)
        return AssessmentRun.objects.get(pk=run_id)
    except (SoftTimeLimitExceeded, _TimeLimitReached):
        logger.warning("Run %s reached the soft time limit", run_id)
        _finish_failed(run_id, _time_limit_message())
        return AssessmentRun.objects.get(pk=run_id)
    except RunFailure as exc:
        logger.warning("Run %s failed: %s", run_id, exc)
        _finish_failed(run_id, str(exc))
        return AssessmentRun.objects.get(pk=run_id)
    except (OperationalError, InterfaceError) as exc:
        raise _database_lost(run, exc) from exc
    except Exception as exc:
        logger.exception("Run %s failed with an unexpected error", run_id)
        _finish_failed(run_id, f"The assessment stopped with an unexpected error ({type(exc).__name__}: {exc}). "
                               "The worker log has the details.")
        return AssessmentRun.objects.get(pk=run_id)

    try:
        stored = _store_results(run, result)
    except (OperationalError, InterfaceError) as exc:
        raise _database_lost(run, exc) from exc
    if not stored:
        logger.warning("Run %s finished but was no longer running (reaped or cancelled); results not stored", run_id)
        return AssessmentRun.objects.get(pk=run_id)
    run.refresh_from_db()
    _run_follow_ups(run)
    run.refresh_from_db()
    return run


def _database_lost(run: AssessmentRun, exc: Exception) -> DatabaseLost:
    logger.warning("Run %s lost its database connection (%s); nothing was stored, the task will retry", run.pk, exc)
    return DatabaseLost(f"database connection lost during run {run.pk}: {exc}",
                        claim={"worker_host": run.worker_host, "started_at": run.started_at.isoformat()})


# --- cancelling, re-running, reaping ---------------------------------------------------------------------


def run_cancel(*, run: AssessmentRun, user) -> AssessmentRun:
    """Cancel a queued run at once; ask a running one to stop (the worker stops at its next step)."""
    if run.is_finished:
        raise ValidationError("This run has already finished.")
    now = timezone.now()
    with transaction.atomic():
        if AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, current_step=""):
            action = "run.cancel"
        elif AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True):
            action = "run.cancel_request"
        else:
            raise ValidationError("This run has already finished.")
        audit_record(actor=user, organization=run.organization, action=action, obj=run)
    run.refresh_from_db()
    return run


def run_rerun(*, run: AssessmentRun, user) -> AssessmentRun:
    """A new run with the same model version, datasets, suite and seed."""
    return run_create(
        asset=run.asset, profile=run.profile, user=user, version=run.version,
        evaluation_dataset=run.evaluation_dataset, training_dataset=run.training_dataset,
        holdout_dataset=run.holdout_dataset, seed=run.seed, trigger=RunTrigger.RERUN, rerun_of=run,
        profile_snapshot=run.profile_snapshot or None,
    )


def runs_reap_stale(*, now=None) -> list[int]:
    """Fail running runs whose worker stopped heart-beating for RISKAPP_HEARTBEAT_TIMEOUT seconds."""
    now = now or timezone.now()
    timeout = settings.RISKAPP_HEARTBEAT_TIMEOUT
    cutoff = now - timedelta(seconds=timeout)
    stale = AssessmentRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    ).select_related("organization")
    reaped = []
    for run in stale:
        last_seen = run.heartbeat_at or run.started_at
        reason = (f"The worker {run.worker_host or '(unknown host)'} stopped responding at "
                  f"{last_seen:%Y-%m-%d %H:%M:%S} UTC (no heartbeat for {timeout} s, e.g. it crashed or was "
                  f"killed). The run was failed at {run.progress}% during “{run.current_step}”; re-run it.")
        updated = AssessmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING,
                                               heartbeat_at=run.heartbeat_at).update(
            status=RunStatus.FAILED, finished_at=now, error=reason)
        if updated:
            audit_record(actor="system", organization=run.organization, action="run.reap", obj=run,
                         details={"last_heartbeat": last_seen.isoformat(), "worker_host": run.worker_host})
            reaped.append(run.pk)
    if reaped:
        logger.warning("Reaped runs whose worker stopped responding: %s", reaped)
    return reaped
