"""The `tokcodec` command line (installed as the package `tokcodec_cli`).

Before anything loads torch, the OpenMP wait policy. Threads that spin while
they wait hold a core that another process needs: with both cores of the
2-core machine busy, a 2-thread decode took 38 s with libgomp's default spin
against 39 s on one thread, and 30 s with a short spin (GOMP_SPINCOUNT
10000); on an idle machine the default spin was the faster (14.1 s against
15.4 s; medians of 3, tokcodec/zoo/cards/mlm-tc-2.1.md). So the spin is
shortened only when other work is running when the command starts. A user's
own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
"""

import os

SHORT_SPIN = "10000"


def machine_is_busy(samples: int = 3, interval: float = 0.01) -> bool:
    """Other runnable threads beside this process in every one of a few looks 10 ms apart
    (/proc/loadavg's running count: a CPU-bound process is nearly always runnable, a short-lived one
    seldom in all of them; the load averages trail by minutes, so they are not used)."""
    import time

    try:
        for i in range(samples):
            if i:
                time.sleep(interval)
            running = int(open("/proc/loadavg").read().split()[3].split("/")[0])
            if running - 1 < 1:  # this process is one of them
                return False
        return True
    except (OSError, ValueError, IndexError):
        return False


if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ and machine_is_busy():
    os.environ["GOMP_SPINCOUNT"] = SHORT_SPIN
