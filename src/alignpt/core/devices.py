"""Devices: refuse, before any weights load, a torch device this machine cannot use.

Every place that loads a model onto a user-named device (evaluation backends, the tagger's
encoder, the world suite) checks it here first, so a typo or a missing GPU is one line, not
a CUDA traceback halfway through loading.
"""

from __future__ import annotations

from typing import Any

from alignpt.core.errors import ConfigError

__all__ = ["check_device"]


def check_device(torch: Any, device: str) -> None:
    """Refuse, before any weights load, a device torch cannot name or this machine lacks."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown --device {device!r} (e.g. cpu, cuda, cuda:1, mps)") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= count:
            raise ConfigError(f"--device {device}: this machine has {count} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {device}: MPS is not available on this machine")
