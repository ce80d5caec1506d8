"""Which torch device a model runs on, checked before any weight moves there."""

from __future__ import annotations

import torch

from distillrank.errors import DistillrankError

__all__ = ["resolve_device"]


def _cuda_missing() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU-only build"
    return "no CUDA GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The :class:`torch.device` for ``device``.

    ``None`` or ``"auto"``: CUDA when available, else CPU. A device that cannot be used here (``"cuda"``
    on a CPU-only torch, ``"cuda:3"`` with two GPUs, ``"mps"`` off Apple silicon) or a name torch does
    not know (``"gpu"``) raises a :class:`~distillrank.errors.DistillrankError` that says why, instead of
    torch's assertion deep inside ``.to()``.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as err:
        raise DistillrankError(
            f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DistillrankError(f"device {device!r}: {_cuda_missing()}; use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DistillrankError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DistillrankError(f"device {device!r}: MPS is not available on this machine; use device='cpu'")
    return dev
