"""How much memory a model may still take: the bound every memory check (pipeline, prior, batch) compares with."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def free_memory(device: str) -> int | None:
    """Bytes the model may still allocate on `device` (None when unknown): on the CPU the
    smaller of the machine's available memory and what the address-space limit (`ulimit -v`)
    leaves this process. TOKCODEC_NO_MEMORY_CHECK=1 turns the checks off (None): they are a
    resource limit, estimated, and a user who knows better may go past them (docs/security.md)."""
    if os.environ.get("TOKCODEC_NO_MEMORY_CHECK") == "1":
        return None
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmSize:"):
                    room = max(0, limit - int(line.split()[1]) * 1024)
                    free = room if free is None else min(free, room)
    except (OSError, ValueError, ImportError):
        pass
    return free
