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


if __name__ == "__main__":
    main()
