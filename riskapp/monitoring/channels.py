"""Alert channels: one contract (notify(alert, delivery), ChannelError(permanent=...)) for e-mail, signed webhooks and Slack."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import smtplib
import time

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from riskapp.monitoring import http
from riskapp.monitoring.models import Alert, Channel, ChannelKind, Delivery, DeliveryEvent

WEBHOOK_TIMEOUT_S = 10.0
SECRET_PREFIX = "whsec_"
# Answers that say "not now" rather than "never": retried like a 5xx.
TRANSIENT_4XX = {408, 425, 429}


class ChannelError(Exception):
    """A delivery failed. permanent=True means retrying cannot help (bad address, 4xx): the channel is disabled."""

    def __init__(self, message: str, *, permanent: bool, response_status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.response_status = response_status


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign_webhook(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature: "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")).

    The key is the base64-decoded part of the secret after "whsec_", as the spec says.
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def absolute_url(path: str) -> str:
    return settings.SITE_URL + path


def alert_payload(alert: Alert | None, delivery: Delivery) -> dict:
    """The JSON every webhook receives: {type, timestamp, data}, as the Standard Webhooks spec suggests."""
    event_type = f"alert.{delivery.event}" if delivery.event != DeliveryEvent.TEST else "channel.test"
    timestamp = (delivery.created_at or delivery.attempted_at).isoformat()
    if alert is None:
        return {
            "type": event_type,
            "timestamp": timestamp,
            "data": {"channel": delivery.channel.name, "organization": delivery.channel.organization.name,
                     "message": "Test message from riskapp: this channel receives alerts."},
        }

    def run_ref(run):
        if run is None:
            return None
        return {"id": run.pk, "url": absolute_url(reverse("assessments:detail", args=[run.pk]))
                if _has_url("assessments:detail") else None,
                "version": run.version.label if run.version_id else None,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None}

    return {
        "type": event_type,
        "timestamp": timestamp,
        "data": {
            "id": alert.pk,
            "url": absolute_url(reverse("monitoring:alert", args=[alert.pk])),
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "title": alert.title,
            "organization": alert.organization.name,
            "asset": {"id": alert.asset_id, "name": alert.asset.name},
            "profile": {"id": alert.profile_id, "slug": alert.profile.slug, "name": alert.profile.name},
            "diff": [
                {k: row.get(k) for k in ("check", "key", "metric", "baseline", "current", "delta", "tolerance",
                                         "tolerance_kind")}
                for row in alert.diff
            ],
            "controls": alert.controls,
            "reasons": alert.reasons,
            "baseline_run": run_ref(alert.baseline_run),
            "current_run": run_ref(alert.current_run),
            "occurrences": alert.occurrences,
            "opened_at": alert.opened_at.isoformat() if alert.opened_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
    }


def _has_url(name: str) -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse(name, args=[1])
    except NoReverseMatch:
        return False
    return True


def _http_post(url: str, body: bytes, headers: dict[str, str]) -> None:
    from workers.engine.model import EndpointError, check_endpoint_address

    try:
        check_endpoint_address(url, allow_private=settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE)
    except EndpointError as exc:
        raise ChannelError(str(exc).replace("endpoint", "webhook"), permanent=True) from exc
    try:
        response = http.post_json(url, body, headers, WEBHOOK_TIMEOUT_S)
    except http.TransportError as exc:
        raise ChannelError(f"could not reach the receiver: {exc}", permanent=False) from exc
    if 200 <= response.status < 300:
        return
    excerpt = f": {response.body_excerpt.strip()[:200]}" if response.body_excerpt.strip() else ""
    if response.status >= 500 or response.status in TRANSIENT_4XX:
        raise ChannelError(f"the receiver answered HTTP {response.status}{excerpt}", permanent=False,
                           response_status=response.status)
    # 3xx (not followed) and other 4xx: the address or credentials are wrong; retrying will not fix that.
    raise ChannelError(f"the receiver answered HTTP {response.status}{excerpt}", permanent=True,
                       response_status=response.status)


class EmailChannel:
    def __init__(self, channel: Channel):
        self.channel = channel

    def notify(self, alert: Alert | None, delivery: Delivery) -> None:
        context = {"alert": alert, "delivery": delivery, "channel": self.channel, "site_url": settings.SITE_URL,
                   "payload": alert_payload(alert, delivery)}
        subject = " ".join(render_to_string("email/alert_subject.txt", context).split())
        text = render_to_string("email/alert.txt", context)
        html = render_to_string("email/alert.html", context)
        message = EmailMultiAlternatives(subject=subject, body=text, to=list(self.channel.email_recipients),
                                         headers={"X-Riskapp-Message-Id": delivery.message_id})
        message.attach_alternative(html, "text/html")
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise ChannelError(f"the mail server refused the recipients {refused}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # The mail server is down or misconfigured: an operator problem, not this channel's; retry.
            raise ChannelError(f"sending mail failed: {type(exc).__name__}: {exc}", permanent=False) from exc


class WebhookChannel:
    def __init__(self, channel: Channel):
        self.channel = channel

    def notify(self, alert: Alert | None, delivery: Delivery) -> None:
        body = json.dumps(alert_payload(alert, delivery), separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        headers = {
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(secret=self.channel.secret, message_id=delivery.message_id,
                                              timestamp=timestamp, body=body),
        }
        _http_post(self.channel.url, body, headers)


class SlackChannel:
    def __init__(self, channel: Channel):
        self.channel = channel

    def notify(self, alert: Alert | None, delivery: Delivery) -> None:
        payload = alert_payload(alert, delivery)
        text = render_to_string("email/alert_slack.txt", {"alert": alert, "delivery": delivery,
                                                          "payload": payload, "channel": self.channel}).strip()
        body = json.dumps({"text": text}, separators=(",", ":")).encode()
        _http_post(self.channel.url, body, {})


CHANNEL_CLASSES = {
    ChannelKind.EMAIL: EmailChannel,
    ChannelKind.WEBHOOK: WebhookChannel,
    ChannelKind.SLACK: SlackChannel,
}


def channel_transport(channel: Channel):
    return CHANNEL_CLASSES[ChannelKind(channel.kind)](channel)
