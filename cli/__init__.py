"""The `tokcodec` command line (installed as the package `tokcodec_cli`).

Before anything loads torch: the OpenMP wait policy (tokcodec/threads.py: a short spin when the
machine is busy).
"""

from tokcodec.api import choose_wait_policy

choose_wait_policy()
