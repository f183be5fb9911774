"""Benchmark: runtime screening on the demo digits CNN against the model's own forward pass.

For batches of 1 and 256 it prints throughput (inputs/s, from the median call) and p95 latency of
  - the model alone (ModelHandle.predict_proba),
  - screening in process (prediction + adversarial detector + Mahalanobis anomaly score, loaded once),
  - the whole endpoint, POST /api/v1/assets/{id}/screen with a screening token (auth, validation, DB writes),
and the overhead of each as a ratio to the model alone. Nothing is asserted on time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH_SIZES = (1, 256)
DETECTION_PARAMS = {"max_fit": 600, "detector_epochs": 10, "detector_lr": 3e-3, "pgd_iter": 7, "adaptive_iter": 10}


def _timings(fn, *, repeats: int) -> list[float]:
    fn()  # warm-up: first calls pay for lazy initialisation
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _row(name: str, batch: int, samples: list[float], reference: list[float] | None) -> str:
    p95 = float(np.percentile(samples, 95))
    # Medians: on a shared machine a few stalled calls would otherwise decide the ratio.
    throughput = batch / float(np.median(samples))
    ratio = f"{np.median(samples) / np.median(reference):6.2f}×" if reference else "   1.00×"
    return f"  {name:<28} batch {batch:>3}: {throughput:10.0f} inputs/s   p95 {1000 * p95:8.2f} ms   overhead {ratio}"


def _django_setup(media_root: Path) -> str:
    """Django on a throwaway test database (like pytest-django does); returns the database to destroy."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskapp.settings")
    os.environ["RISKAPP_MEDIA_ROOT"] = str(media_root)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    settings.MEDIA_ROOT = media_root
    settings.ALLOWED_HOSTS = ["testserver"]
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return old_name


def main() -> None:
    from threadpoolctl import threadpool_limits

    # numpy's BLAS gets the same thread budget as torch: left alone, OpenBLAS threads fight over a busy
    # machine and a 64×64 product in the anomaly score takes milliseconds instead of microseconds.
    with threadpool_limits(limits=int(os.environ.get("RISKAPP_BENCH_THREADS", "1")), user_api="blas"):
        _main()


def _main() -> None:
    with tempfile.TemporaryDirectory(prefix="riskapp-bench-screening-") as tmp:
        tmp = Path(tmp)
        old_database = _django_setup(tmp / "media")
        try:
            _bench(tmp)
        finally:
            from django.db import connection

            connection.creation.destroy_test_db(old_database, verbosity=0)


def _bench(tmp: Path) -> None:
    from rest_framework.test import APIClient

    from riskapp.accounts.services import organization_create, user_create
    from riskapp.screening import runtime
    from riskapp.screening.services import detector_store_from_run, screening_token_create, suite_with_detector_dir
    from tests.screening.factories import digits_asset, finished_run
    from workers.engine import demo
    from workers.engine.data import builtin_dataset
    from workers.engine.loaders import load_model
    from workers.engine.suite import run_suite
    from workers.engine.types import SuiteData

    splits = builtin_dataset("digits")
    model_path = demo.save_torchscript(demo.train_digits_cnn(epochs=12, seed=0), tmp / "digits_cnn.pt")
    model = load_model(model_path, "torchscript", input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0),
                       device="cpu")
    suite = {"name": "bench-screening", "risk_tier": "limited",
             "checks": [{"kind": "detection.train", "params": DETECTION_PARAMS, "thresholds": {}}]}
    data = SuiteData(x_eval=splits["evaluation"][0], y_eval=splits["evaluation"][1], x_train=splits["train"][0],
                     y_train=splits["train"][1], x_holdout=splits["holdout"][0], y_holdout=splits["holdout"][1])
    result = run_suite(model, data, suite_with_detector_dir(suite, artifact_dir=tmp / "detector"), seed=0)

    owner = user_create(username="bench", password="bench-password-123")
    organization = organization_create(name="Bench", owner=owner)
    asset = digits_asset(organization, artifact=model_path.read_bytes(), user=owner)
    detector = detector_store_from_run(run=finished_run(asset, suite=suite), artifact_dir=tmp / "detector",
                                       result=result)
    loaded = runtime.loaded_screen(detector)
    raw = screening_token_create(asset=asset, user=owner, name="bench")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    pool = np.concatenate([splits["evaluation"][0], splits["holdout"][0]])

    print(f"  detector: FPR {detector.false_positive_rate:.3f} / anomaly {detector.anomaly_false_positive_rate:.3f} "
          f"(target {detector.target_fpr}), PGD caught {detector.calibration['per_attack']['pgd']['detection_rate']:.2f}, "
          f"adaptive {detector.adaptive_detection_rate:.2f}")
    for batch in BATCH_SIZES:
        x = np.ascontiguousarray(pool[:batch])
        repeats = 200 if batch == 1 else 30
        forward = _timings(lambda: loaded.model.predict_proba(x), repeats=repeats)
        screen = _timings(lambda: loaded.screen(x), repeats=repeats)
        body = {"inputs": x.tolist()}

        def endpoint():
            response = client.post(f"/api/v1/assets/{asset.pk}/screen", body, format="json")
            if response.status_code != 200:
                raise RuntimeError(f"screen endpoint answered {response.status_code}: {response.content[:300]!r}")

        http = _timings(endpoint, repeats=repeats // 2 if batch == 1 else 10)
        print(_row("model forward pass alone", batch, forward, None))
        print(_row("screening (in process)", batch, screen, forward))
        print(_row("screen endpoint (HTTP+DB)", batch, http, forward))


if __name__ == "__main__":
    import torch

    torch.set_num_threads(int(os.environ.get("RISKAPP_BENCH_THREADS", "1")))
    main()
