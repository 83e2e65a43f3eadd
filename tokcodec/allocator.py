"""Keep freed tensor memory in the process (glibc malloc), so that the next tensor of that size reuses it.

Coding allocates and frees the same large tensors over and over: a decoder layer's output (15 MB
at 640x360), the prior's q, k, v (11 MB). glibc hands a large freed block back to the kernel (its
mmap threshold, heap trimming), so the next one is mapped afresh and each of its pages faults and is
zeroed on first touch. With blocks up to 32 MiB (glibc's ceiling on 64-bit) kept on the heap, one
latent frame of the tc-2.1 decoder took 5-8% less time and the command line coded a 640x360 clip
2-14% faster, in interleaved runs (tokcodec/zoo/cards/mlm-tc-2.1-small.md, seventh session).
The price: a process keeps its peak heap until it exits, which coding reaches anyway.

A user's own MALLOC_* or GLIBC_TUNABLES settings win; no effect where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30

_done = False


def keep_freed_memory(environ=os.environ) -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); returns whether they were set."""
    global _done
    if _done or any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
