"""Numerical precision helpers shared by the layers (one copy of each).

Authors
 * ser-recipes contributors 2026
"""

import contextlib

import torch

__all__ = ["no_autocast"]


def no_autocast(device_type):
    """Context manager that disables autocast on ``device_type`` (a no-op where unsupported).

    Statistics that must stay in float32 under mixed precision (poolings, filterbanks) are
    computed inside it.

    Arguments
    ---------
    device_type : str
        ``"cuda"``, ``"cpu"``, ... (``tensor.device.type``).

    Returns
    -------
    contextlib.AbstractContextManager
        ``torch.autocast(device_type, enabled=False)``, or a null context for a device type
        without autocast support.

    Example
    -------
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     with no_autocast("cpu"):
    ...         inner = torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype
    ...     outer = torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype
    >>> inner, outer
    (torch.float32, torch.bfloat16)
    """
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # device type without autocast support
        return contextlib.nullcontext()
