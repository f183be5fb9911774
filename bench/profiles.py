"""Wall time of the built-in `quick` and `standard` profiles on the demo models (digits CNN, breast-cancer GBC),
run through the engine as a worker runs them, with training and holdout data so every check applies."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

PROFILES = tuple(os.environ.get("RISKAPP_BENCH_PROFILES", "quick,standard").split(","))


def _demo_models(folder: Path):
    from workers.engine import demo

    yield ("digits CNN (TorchScript)", "digits", "torchscript",
           demo.save_torchscript(demo.train_digits_cnn(), folder / "digits_cnn.pt"))
    yield ("breast-cancer GBC (skops)", "breast_cancer", "sklearn-skops",
           demo.save_skops(demo.train_cancer_gbc(), folder / "cancer_gbc.skops"))


def main(device: str = "cpu") -> dict:
    import logging

    from workers.engine import SuiteData, load_model, run_suite
    from workers.engine.data import builtin_dataset

    logging.getLogger("art").setLevel(logging.WARNING)  # one line per profile, not ART's per-attack chatter
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, dataset, fmt, path in _demo_models(Path(tmp)):
            splits = builtin_dataset(dataset)
            x_eval, y_eval = splits["evaluation"]
            clip = (0.0, 1.0)
            for profile in PROFILES:
                handle = load_model(path, fmt, sample=x_eval, clip_values=clip, device=device)
                data = SuiteData(x_eval=x_eval, y_eval=y_eval, x_train=splits["train"][0], y_train=splits["train"][1],
                                 x_holdout=splits["holdout"][0], y_holdout=splits["holdout"][1])
                started, cpu_started = time.perf_counter(), time.process_time()
                result = run_suite(handle, data, profile, seed=0)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                statuses = ", ".join(f"{c.kind}={c.status}" for c in result.checks)
                print(f"{profile:<9} {label:<28} wall {wall:7.1f} s  CPU {cpu:7.1f} s  ({statuses})", flush=True)
                results[(profile, label)] = {"wall_s": wall, "cpu_s": cpu}
    return results


if __name__ == "__main__":
    main()
