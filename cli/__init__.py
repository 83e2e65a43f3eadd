"""The `tokcodec` command line (installed as the package `tokcodec_cli`).

Before anything loads torch: the OpenMP wait policy (tokcodec/threads.py: a short spin when the
machine is busy); and freed tensor memory kept for reuse (tokcodec/allocator.py).
"""

from tokcodec.api import choose_wait_policy, keep_freed_memory

choose_wait_policy()
keep_freed_memory()
