"""The one function that sends alert traffic over HTTP; tests patch it here, at the edge."""

from __future__ import annotations

from dataclasses import dataclass

import requests

MAX_RESPONSE_EXCERPT = 500


class TransportError(Exception):
    """No HTTP answer at all: connection refused or reset, DNS failure, timeout."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body_excerpt: str


def post_json(url: str, body_bytes: bytes, headers: dict[str, str], timeout: float) -> HttpResponse:
    """POST a JSON body. Redirects are not followed: a webhook that redirects could be steered to a private host."""
    try:
        response = requests.post(
            url,
            data=body_bytes,
            headers={"Content-Type": "application/json", "User-Agent": "riskapp-alerts/1.0", **headers},
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout as exc:
        raise TransportError(f"no answer within {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    try:
        excerpt = response.raw.read(MAX_RESPONSE_EXCERPT, decode_content=True).decode("utf-8", "replace")
    except Exception:  # a body that cannot be read changes nothing about the status we got
        excerpt = ""
    finally:
        response.close()
    return HttpResponse(status=response.status_code, body_excerpt=excerpt)
