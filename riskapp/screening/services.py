"""Writes for screening: storing detectors from runs, tokens, policies, screening batches, burst and extraction alerts."""

from __future__ import annotations

import copy
import hashlib
import logging
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from riskapp.audit.services import audit_record
from riskapp.screening import runtime, selectors
from riskapp.screening.inputs import batch_validate, input_entropy
from riskapp.screening.models import (
    ScreeningDetector,
    ScreeningEvent,
    ScreeningPolicy,
    ScreeningRequest,
    ScreeningToken,
)

logger = logging.getLogger(__name__)

DETECTION_KIND = "detection.train"
SCREENING_PROFILE_SLUG = "screening"
SCREENING_TOKEN_PREFIX = "rss_"
SYSTEM = "system"
# While a screening alert is active it is refreshed at most this often, so a long burst is one alert
# with a few updates, not one audit event per request.
ALERT_REFRESH_INTERVAL = timedelta(minutes=1)
# ATLAS: extraction through the inference API is AML.T0024; telemetry that catches it is AML.M0024.
EXTRACTION_ATLAS = "AML.T0024 (exfiltration via AI inference API); AML.M0024 (AI telemetry logging)"


class ScreeningUnavailable(Exception):
    """Screening cannot serve this asset now (turned off, no detector for the live version, detector unreadable)."""


# --- detectors from assessment runs (hook: called by assessments.services.run_execute) ---------------------


def suite_with_detector_dir(suite: dict, *, artifact_dir) -> dict:
    """The suite with detection.train told where to save its fitted detector; `suite` itself when it has none."""
    if not any(check.get("kind") == DETECTION_KIND for check in suite.get("checks", [])):
        return suite
    patched = copy.deepcopy(suite)
    for check in patched["checks"]:
        if check.get("kind") == DETECTION_KIND:
            check["params"] = {**check.get("params", {}), "artifact_dir": str(artifact_dir)}
    return patched


def run_suite_storing_detector(*, run, run_suite: Callable[[dict], object]):
    """Run the suite of `run` through `run_suite(suite)`; when it contains detection.train, the fitted detector is
    saved to a temporary directory and stored with detector_store_from_run before that directory goes away.

    A failure to store the detector is logged and noted on the run: it never loses the run's results.
    """
    suite = run.profile_snapshot
    if not any(check.get("kind") == DETECTION_KIND for check in suite.get("checks", [])):
        return run_suite(suite)
    with tempfile.TemporaryDirectory(prefix=f"riskapp-detector-{run.pk}-") as tmp:
        directory = Path(tmp) / "detector"
        result = run_suite(suite_with_detector_dir(suite, artifact_dir=directory))
        try:
            detector_store_from_run(run=run, artifact_dir=directory, result=result)
        except Exception as exc:
            logger.exception("Storing the screening detector of run %s failed", run.pk)
            from riskapp.assessments.services import _note

            _note(run.pk, f"The screening detector could not be stored: {type(exc).__name__}: {exc}")
    return result


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def detector_store_from_run(*, run, artifact_dir, result) -> ScreeningDetector | None:
    """Copy the detector detection.train fitted during `run` into storage and record it with its calibration.

    `result` is the engine's SuiteResult. Returns None when the run fitted no detector (check skipped,
    errored, or not in the suite).
    """
    from workers.engine.checks.detection_train import MANIFEST_FILE

    check = next((c for c in result.checks if c.kind == DETECTION_KIND), None)
    if check is None or check.status not in ("passed", "failed") or not check.metrics.get("artifacts"):
        return None
    metrics = check.metrics
    directory = Path(artifact_dir)
    hashes = dict(metrics["artifacts"])
    for name, expected in hashes.items():
        if _sha256_file(directory / name) != expected:
            raise ValidationError(f"The detector file {name} changed after detection.train wrote it.")
    prefix = f"detectors/org-{run.organization_id}/run-{run.pk}"
    for name in hashes:
        target = f"{prefix}/{name}"
        if default_storage.exists(target):  # a re-delivered run writes the same files again
            default_storage.delete(target)
        with open(directory / name, "rb") as handle:
            saved = default_storage.save(target, File(handle, name=name))
        if saved != target:
            raise ValidationError(f"Storage renamed {target} to {saved}; the detector would not be found.")
    detector = ScreeningDetector(
        organization_id=run.organization_id, asset_id=run.asset_id, version_id=run.version_id, run=run,
        storage_prefix=prefix, files=hashes, manifest_sha256=hashes[MANIFEST_FILE],
        target_fpr=metrics["target_fpr"], false_positive_rate=metrics["false_positive_rate"],
        anomaly_false_positive_rate=metrics["anomaly_false_positive_rate"],
        either_false_positive_rate=metrics["either_false_positive_rate"],
        detection_rate=metrics["detection_rate"], adaptive_detection_rate=metrics.get("adaptive_detection_rate"),
        calibration={key: metrics.get(key) for key in (
            "per_attack", "adaptive", "thresholds", "eps", "n_fit", "n_calibration", "n_test")},
    )
    detector.full_clean(exclude=["run"])
    with transaction.atomic():
        ScreeningDetector.objects.filter(run=run).delete()
        detector.save()
        audit_record(actor=SYSTEM, organization=run.organization, action="screening.detector_store", obj=detector,
                     details={"run": run.pk, "version": run.version_id, "files": hashes})
    return detector


def screening_enable(*, asset, user) -> "AssessmentRun":  # noqa: F821
    """Turn screening on for the asset and start the run that trains its detectors (built-in "screening" profile)."""
    from riskapp.assessments.models import Profile
    from riskapp.assessments.services import run_create

    profile = Profile.objects.filter(organization__isnull=True, slug=SCREENING_PROFILE_SLUG).first()
    if profile is None:
        raise ValidationError("The built-in screening profile is missing; run the database migrations.")
    with transaction.atomic():
        run = run_create(asset=asset, profile=profile, user=user)
        policy = selectors.policy_for(asset=asset)
        if policy.pk is None or not policy.enabled:
            policy.enabled = True
            policy.full_clean()
            policy.save()
        audit_record(actor=user, organization=asset.organization, action="screening.enable", obj=asset,
                     details={"run": run.pk})
    return run


POLICY_FIELDS = ("enabled", "burst_rate", "burst_last_n", "burst_count", "burst_minutes", "extraction_minutes",
                 "extraction_min_queries", "extraction_anomalous_share", "extraction_min_entropy", "max_batch")


def policy_update(*, asset, user, **changes) -> ScreeningPolicy:
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown policy settings: {', '.join(sorted(unknown))}.")
    policy = selectors.policy_for(asset=asset)
    for name, value in changes.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    audit_record(actor=user, organization=asset.organization, action="screening.policy_update", obj=policy,
                 details={name: changes[name] for name in sorted(changes)})
    return policy


def organization_store_inputs_set(*, organization, user, store: bool) -> None:
    """Whether flagged inputs themselves are kept with their screening events (hashes and scores always are)."""
    organization.store_screened_inputs = bool(store)
    organization.full_clean()
    organization.save(update_fields=["store_screened_inputs"])
    audit_record(actor=user, organization=organization, action="screening.store_inputs_set", obj=organization,
                 details={"store_screened_inputs": bool(store)})


# --- tokens ------------------------------------------------------------------------------------------------


def _hash_token(raw: str) -> str:
    # 256 random bits: a plain SHA-256 is enough, as for API tokens.
    return hashlib.sha256(raw.encode()).hexdigest()


def screening_token_create(*, asset, user, name: str) -> tuple[ScreeningToken, str]:
    """A token that can only screen inputs for this asset; the raw value is returned once and never stored."""
    raw = SCREENING_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScreeningToken(organization_id=asset.organization_id, asset=asset, name=name.strip(), prefix=raw[:10],
                           key_hash=_hash_token(raw), created_by=user if getattr(user, "is_authenticated", False) else None)
    token.full_clean()
    token.save()
    audit_record(actor=user, organization=asset.organization, action="screening.token_create", obj=token,
                 details={"asset": asset.pk, "name": token.name, "prefix": token.prefix})
    return token, raw


def screening_token_revoke(*, token: ScreeningToken, user) -> ScreeningToken:
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=user, organization=token.asset.organization, action="screening.token_revoke", obj=token,
                 details={"asset": token.asset_id, "prefix": token.prefix})
    return token


def screening_token_authenticate(*, raw: str) -> ScreeningToken | None:
    token = (ScreeningToken.objects.select_related("asset", "asset__organization")
             .filter(key_hash=_hash_token(raw), revoked_at__isnull=True).first())
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ScreeningToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- screening ---------------------------------------------------------------------------------------------


@dataclass
class Caller:
    """Who sent a screening request; `key` groups their queries for the extraction watch."""

    key: str
    label: str
    screening_token: ScreeningToken | None = None
    api_token: object | None = None
    user: object | None = None

    @classmethod
    def of(cls, *, user=None, auth=None) -> "Caller":
        from riskapp.accounts.models import ApiToken

        if isinstance(auth, ScreeningToken):
            return cls(key=f"screening-token:{auth.pk}", label=f"screening token “{auth.name}” ({auth.prefix}…)",
                       screening_token=auth)
        if isinstance(auth, ApiToken):
            return cls(key=f"api-token:{auth.pk}", label=f"API token “{auth.name}” of {auth.user.get_username()}",
                       api_token=auth, user=auth.user)
        return cls(key=f"user:{user.pk}", label=f"user {user.get_username()}", user=user)


@dataclass
class ScreeningOutcome:
    detector: ScreeningDetector
    scores: runtime.ScreeningScores
    input_sha256: list[str]
    entropy: np.ndarray
    request: ScreeningRequest
    alerts: list = field(default_factory=list)


def input_hashes(x: np.ndarray) -> list[str]:
    """SHA-256 of each input's float32 bytes (C order): the same input always hashes the same."""
    return [hashlib.sha256(np.ascontiguousarray(row, dtype=np.float32).tobytes()).hexdigest() for row in x]


def screen_batch(*, asset, batch: np.ndarray, caller: Caller, now=None) -> ScreeningOutcome:
    """Score a batch with the asset's detector, record it, store flagged inputs as events and raise alerts.

    Raises ValidationError for a malformed batch and ScreeningUnavailable when the asset cannot be screened.
    """
    policy = selectors.policy_for(asset=asset)
    if not policy.enabled:
        raise ScreeningUnavailable("Screening is turned off for this asset.")
    detector = selectors.detector_current(asset=asset)
    if detector is None:
        raise ScreeningUnavailable(
            "No screening detector is trained for this asset's current version yet: enable screening on the asset "
            "page, or run a profile that includes detection.train, and wait for the run to finish.")
    version = detector.version
    x = batch_validate(batch, input_shape=tuple(version.input_shape), max_batch=policy.max_batch)
    try:
        loaded = runtime.loaded_screen(detector)
    except runtime.DetectorLoadError as exc:
        logger.error("Screening detector %s of asset %s cannot be loaded: %s", detector.pk, asset.pk, exc)
        raise ScreeningUnavailable(f"The screening detector cannot be loaded: {exc}") from exc
    scores = loaded.screen(x)
    entropy = input_entropy(x, clip_values=version.clip_values)
    hashes = input_hashes(x)
    now = now or timezone.now()
    flagged = np.flatnonzero(scores.flagged)
    keep_inputs = asset.organization.store_screened_inputs
    with transaction.atomic():
        request = ScreeningRequest(
            organization_id=asset.organization_id, asset=asset, detector=detector, caller=caller.key,
            screening_token=caller.screening_token, api_token=caller.api_token, user=caller.user,
            input_count=len(x), flagged_count=len(flagged), adversarial_count=int(scores.adversarial_flag.sum()),
            anomalous_count=int(scores.anomalous_flag.sum()), entropy_sum=float(entropy.sum()), created_at=now)
        # The related rows were just read; re-checking that each still exists would double the queries per request.
        request.full_clean(exclude=["organization", "asset", "detector", "screening_token", "api_token", "user"])
        request.save()
        ScreeningEvent.objects.bulk_create([
            ScreeningEvent(
                organization_id=asset.organization_id, asset=asset, request=request, detector=detector,
                screening_token=caller.screening_token, caller=caller.key, input_sha256=hashes[i],
                predicted_label=int(scores.labels[i]), adversarial_score=float(scores.adversarial[i]),
                anomaly_score=float(scores.anomaly[i]),
                flags=[name for name, flags in (("adversarial", scores.adversarial_flag),
                                                ("anomalous", scores.anomalous_flag)) if flags[i]],
                input=x[i].tolist() if keep_inputs else None, created_at=now)
            for i in flagged
        ])
    outcome = ScreeningOutcome(detector=detector, scores=scores, input_sha256=hashes, entropy=entropy, request=request)
    for check in (burst_check, extraction_check):
        try:
            alert = check(asset=asset, detector=detector, policy=policy, caller=caller, now=now)
        except Exception:  # an alerting failure must not turn a screened batch into an error for the caller
            logger.exception("Screening %s for asset %s failed", check.__name__, asset.pk)
            continue
        if alert is not None:
            outcome.alerts.append(alert)
    return outcome


def _raise_alert(*, asset, detector, kind: str, dedupe_key: str, severity: str, title: str, reasons: list[str], now):
    from riskapp.monitoring import selectors as monitoring_selectors
    from riskapp.monitoring.services import alert_open_or_update

    active = monitoring_selectors.active_alert_for(dedupe_key=dedupe_key)
    if active is not None and active.last_seen_at and now - active.last_seen_at < ALERT_REFRESH_INTERVAL:
        return active
    alert, _opened = alert_open_or_update(
        organization=asset.organization, asset=asset, profile=detector.run.profile, kind=kind,
        dedupe_key=dedupe_key, severity=severity, title=title, reasons=reasons)
    return alert


def burst_check(*, asset, detector, policy: ScreeningPolicy, caller: Caller, now) -> object | None:
    """Open (or refresh) the asset's burst alert when flags cross the policy's rate or count rule."""
    from riskapp.monitoring.models import AlertKind, Severity

    inputs, flagged = selectors.recent_inputs(asset=asset, last_n=policy.burst_last_n)
    window = selectors.traffic_totals(asset=asset, since=now - timedelta(minutes=policy.burst_minutes))
    reasons = []
    if inputs >= policy.burst_last_n and flagged / inputs >= policy.burst_rate:
        reasons.append(f"{flagged} of the last {inputs} screened inputs were flagged ({flagged / inputs:.0%}); "
                       f"the rule is {policy.burst_rate:.0%} of the last {policy.burst_last_n}.")
    if window["flagged"] >= policy.burst_count:
        reasons.append(f"{window['flagged']} inputs were flagged in the last {policy.burst_minutes} minutes; "
                       f"the rule is {policy.burst_count}.")
    if not reasons:
        return None
    expected = detector.either_false_positive_rate
    reasons.append(f"On clean data the detector flags {expected:.1%} of inputs "
                   f"(about {1000 * expected:.0f} per 1,000 requests).")
    if window["inputs"]:
        reasons.append(f"Of {window['inputs']} inputs in the last {policy.burst_minutes} minutes, "
                       f"{window['adversarial']} looked adversarial and {window['anomalous']} unlike the evaluation data.")
    return _raise_alert(
        asset=asset, detector=detector, kind=AlertKind.SCREENING_BURST,
        dedupe_key=f"asset:{asset.pk}:screening:burst", severity=Severity.WARNING,
        title=f"Burst of flagged inputs to {asset.name}: possible attack on the model in production",
        reasons=reasons, now=now)


def extraction_check(*, asset, detector, policy: ScreeningPolicy, caller: Caller, now) -> object | None:
    """Alert when one caller sends many random-looking queries unlike the evaluation data (model extraction)."""
    from riskapp.monitoring.models import AlertKind, Severity

    window = selectors.caller_window(asset=asset, caller=caller.key,
                                     since=now - timedelta(minutes=policy.extraction_minutes))
    if (window["inputs"] < policy.extraction_min_queries
            or window["anomalous_share"] < policy.extraction_anomalous_share
            or window["mean_entropy"] < policy.extraction_min_entropy):
        return None
    reasons = [
        f"{caller.label} sent {window['inputs']} inputs in the last {policy.extraction_minutes} minutes "
        f"(rule: {policy.extraction_min_queries}).",
        f"{window['anomalous_share']:.0%} of them look unlike the evaluation data (rule: "
        f"{policy.extraction_anomalous_share:.0%}); on clean data the anomaly detector flags "
        f"{detector.anomaly_false_positive_rate:.1%}.",
        f"Their mean value-histogram entropy is {window['mean_entropy']:.2f} (rule: ≥ {policy.extraction_min_entropy:.2f}; "
        "1.0 is uniform noise): near-uniform random queries are typical of model extraction.",
        f"MITRE ATLAS {EXTRACTION_ATLAS}.",
    ]
    return _raise_alert(
        asset=asset, detector=detector, kind=AlertKind.EXTRACTION,
        dedupe_key=f"asset:{asset.pk}:extraction:{caller.key}", severity=Severity.WARNING,
        title=f"Query pattern typical of model extraction on {asset.name} from {caller.label}"[:300],
        reasons=reasons, now=now)
