"""Where this process stands in a DDP group (``torchrun``), for the modules that split work
between the processes (the feature cache's shards, the batch size of a DDP run).

Authors
 * ser-recipes contributors 2026
"""

import speechbrain as sb
import torch


def process_group():
    """``(rank, world_size)`` of this process in the DDP group; ``(0, 1)`` without one.

    Example
    -------
    >>> process_group()
    (0, 1)
    """
    if not sb.utils.distributed.is_distributed_initialized():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()
