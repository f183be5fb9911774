"""`make bench`: run every benchmark and print its ratios."""

from __future__ import annotations

import os

import torch


def main() -> None:
    # Benchmarks compare like with like on one thread unless told otherwise.
    torch.set_num_threads(int(os.environ.get("RISKAPP_BENCH_THREADS", "1")))
    from bench import engine_pgd

    print("== engine PGD: engine vs plain torch vs ART used plainly ==")
    engine_pgd.main()
    from bench import screening

    print("== screening: screened vs the model's forward pass alone (batches of 1 and 256) ==")
    screening.main()
    from bench import profiles

    print("== profiles: quick and standard wall time on the demo models ==", flush=True)
    profiles.main()
    # Service and scale each set up Django on a throw-away database of their own: separate processes.
    import subprocess
    import sys

    print("== service: worker-start latency, API under load on gunicorn, PDF report time ==", flush=True)
    subprocess.run([sys.executable, "-m", "bench.service"], check=True)
    print("== scale: query counts and p95 of the main pages at 10, 100 and 1,000 assets ==", flush=True)
    subprocess.run([sys.executable, "-m", "bench.scale"], check=True)


if __name__ == "__main__":
    main()
