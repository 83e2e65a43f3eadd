"""The OpenMP wait policy, chosen before torch loads (the command line calls this first).

Threads that spin while they wait hold a core that another process needs: with both cores of the
2-core machine busy, a 2-thread decode took 38 s with libgomp's default spin against 39 s on one
thread, and 30 s with a short spin (GOMP_SPINCOUNT 10000); on an idle machine the default spin was
the faster (14.1 s against 15.4 s; medians of 3, tokcodec/zoo/cards/mlm-tc-2.1.md). So the spin is
shortened only when other work is running when the command starts. A user's own OMP_WAIT_POLICY or
GOMP_SPINCOUNT wins. No effect once torch (and its OpenMP runtime) has loaded.
"""

from __future__ import annotations

import os
import time

SHORT_SPIN = "10000"


def machine_is_busy(samples: int = 3, interval: float = 0.01) -> bool:
    """Other runnable threads beside this process in every one of a few looks 10 ms apart
    (/proc/loadavg's running count: a CPU-bound process is nearly always runnable, a short-lived one
    seldom in all of them; the load averages trail by minutes, so they are not used)."""
    try:
        for i in range(samples):
            if i:
                time.sleep(interval)
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            if running - 1 < 1:  # this process is one of them
                return False
        return True
    except (OSError, ValueError, IndexError):
        return False


def choose_wait_policy(environ=os.environ) -> str | None:
    """Set GOMP_SPINCOUNT to a short spin in `environ` when the machine is busy and the user set no
    policy; returns the value set (None: left alone)."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        decision = None  # the user's
    elif machine_is_busy():
        environ["GOMP_SPINCOUNT"] = decision = SHORT_SPIN
    else:
        decision = None
    if environ.get("TOKCODEC_DEBUG"):  # what the command decided, for speed reports
        import sys

        policy = {k: environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in environ}
        print(f"tokcodec: debug: OpenMP settings {policy or 'default'}", file=sys.stderr)
    return decision
