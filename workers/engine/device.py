"""Choose the torch device the engine runs on (RISKAPP_DEVICE=auto|cpu|cuda|cuda:N)."""

from __future__ import annotations

import os
import re

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class DeviceError(ValueError):
    """The requested device is malformed or not present on this machine."""


def resolve_device(spec: str | None = None) -> str:
    """Return the device to use: an explicit spec wins, then RISKAPP_DEVICE, then "auto".

    "auto" means CUDA when a GPU is visible, else CPU. Asking for CUDA on a machine
    without one is an error rather than a silent fallback, so a run never claims a GPU it did not use.
    """
    requested = (spec or os.environ.get("RISKAPP_DEVICE") or "auto").strip().lower()
    if not _DEVICE_PATTERN.match(requested):
        raise DeviceError(f"device must be auto, cpu, cuda or cuda:N, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    import torch

    has_cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda:0" if has_cuda else "cpu"
    if not has_cuda:
        raise DeviceError(f"device {requested!r} requested but CUDA is not available on this machine")
    index = int(requested.split(":")[1]) if ":" in requested else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {requested!r} requested but only {torch.cuda.device_count()} GPU(s) are visible"
        )
    return f"cuda:{index}"


def device_description(device: str) -> str:
    """Human description of a resolved device, e.g. "cuda:0 (NVIDIA H200)"."""
    if device.startswith("cuda"):
        import torch

        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return "cpu"
