"""Benchmark: the engine's PGD against a plain torch PGD loop and against ART used the obvious way.

Same 32×32 CNN, same data, same ε grid (the `standard` profile's), 20 steps. Prints the time
ratios and asserts that the three give the same robust accuracy at every ε (equality of
numbers, never of time). Honours RISKAPP_DEVICE.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from workers.engine import SuiteData, load_model, run_suite
from workers.engine.demo import save_torchscript
from workers.engine.device import resolve_device
from workers.engine.suite import PROFILES

PGD_STEPS = 20
STEP_FACTOR = 2.5
N_SAMPLES = 200
ROUNDS = 3


def standard_epsilons() -> list[float]:
    whitebox = next(c for c in PROFILES["standard"]["checks"] if c["kind"] == "evasion.whitebox")
    return [float(e) for e in whitebox["params"]["epsilons"]]


def digits_32(seed: int = 0):
    """Digits upscaled to 3×32×32 images in [0, 1]: a small real task at CIFAR's resolution."""
    import torch

    from workers.engine.data import builtin_dataset

    splits = builtin_dataset("digits")

    def upscale(x):
        big = torch.nn.functional.interpolate(
            torch.from_numpy(x), size=(32, 32), mode="bilinear", align_corners=False
        )
        return big.repeat(1, 3, 1, 1).clamp(0, 1).numpy().astype(np.float32)

    (x_train, y_train), (x_eval, y_eval) = splits["train"], splits["evaluation"]
    return upscale(x_train), y_train, upscale(x_eval), y_eval


def train_cnn32(x_train, y_train, seed: int = 0, epochs: int = 4):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x_t, y_t = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x_t), generator=generator)
        for start in range(0, len(order), 64):
            index = order[start : start + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x_t[index]), y_t[index]).backward()
            optimizer.step()
    return model.eval()


def plain_torch_pgd(module, x: np.ndarray, y: np.ndarray, eps: float, device: str) -> float:
    """PGD written directly in torch, in the same order of operations as ART's PGD."""
    import torch

    x0 = torch.from_numpy(x).to(device)
    labels = torch.from_numpy(y).to(device)
    step = torch.tensor(np.float32(STEP_FACTOR * eps / PGD_STEPS), device=device)
    eps_t = torch.tensor(np.float32(eps), device=device)
    x_adv = x0.clone()
    for _ in range(PGD_STEPS):
        x_adv.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(module(x_adv), labels)
        (gradient,) = torch.autograd.grad(loss, x_adv)
        with torch.no_grad():
            x_adv = torch.clamp(x_adv + step * gradient.sign(), 0.0, 1.0)
            delta = x_adv - x0
            x_adv = x0 + delta.sign() * torch.minimum(delta.abs(), eps_t)
    with torch.no_grad():
        predicted = module(x_adv).argmax(dim=1).cpu().numpy()
    return float(np.mean(predicted == y))


def art_plain_pgd(classifier, x: np.ndarray, y: np.ndarray, eps: float) -> float:
    """ART the obvious way: default batch size, weights left trainable."""
    from art.attacks.evasion import ProjectedGradientDescent

    attack = ProjectedGradientDescent(
        classifier, eps=eps, eps_step=STEP_FACTOR * eps / PGD_STEPS, max_iter=PGD_STEPS, verbose=False
    )
    x_adv = attack.generate(x, y=np.eye(10, dtype=np.float32)[y])
    return float(np.mean(np.argmax(classifier.predict(x_adv), axis=1) == y))


def engine_pgd(handle, x: np.ndarray, y: np.ndarray, epsilons: list[float]) -> list[float]:
    suite = {
        "name": "bench",
        "checks": [
            {
                "kind": "evasion.whitebox",
                "params": {
                    "attacks": ["pgd"],
                    "epsilons": epsilons,
                    "reference_epsilon": epsilons[0],
                    "pgd_max_iter": PGD_STEPS,
                    "pgd_step_factor": STEP_FACTOR,
                    "max_samples": len(x),
                },
            }
        ],
    }
    check = run_suite(handle, SuiteData(x_eval=x, y_eval=y), suite, seed=0).checks[0]
    if check.status not in ("passed", "failed"):
        raise RuntimeError(f"engine PGD did not run: {check.reason}")
    return [accuracy for _, accuracy in check.metrics["curves"]["pgd"]]


def quick_profile_seconds(device: str) -> float:
    from workers.engine import demo
    from workers.engine.data import builtin_dataset

    splits = builtin_dataset("digits")
    with tempfile.TemporaryDirectory() as folder:
        path = demo.save_torchscript(demo.train_digits_cnn(), Path(folder) / "digits_cnn.pt")
        x_eval, y_eval = splits["evaluation"]
        handle = load_model(path, "torchscript", sample=x_eval, clip_values=(0.0, 1.0), device=device)
        data = SuiteData(x_eval=x_eval, y_eval=y_eval, x_train=splits["train"][0], y_train=splits["train"][1])
        started = time.perf_counter()
        result = run_suite(handle, data, "quick", seed=0)
        elapsed = time.perf_counter() - started
    print(
        f"quick profile on the demo CNN: {elapsed:.1f} s "
        f"({', '.join(f'{c.kind}={c.status}' for c in result.checks)})"
    )
    return elapsed


def main() -> dict:
    import torch
    from art.estimators.classification import PyTorchClassifier

    device = resolve_device()
    x_train, y_train, x_eval, y_eval = digits_32()
    x, y = x_eval[:N_SAMPLES], y_eval[:N_SAMPLES]
    epsilons = standard_epsilons()
    with tempfile.TemporaryDirectory() as folder:
        path = save_torchscript(
            train_cnn32(x_train, y_train), Path(folder) / "cnn32.pt", torch.zeros(1, 3, 32, 32)
        )
        handle = load_model(path, "torchscript", sample=x, clip_values=(0.0, 1.0), device=device)
        plain_module = torch.jit.load(str(path), map_location=device).eval()
        art_module = torch.jit.load(str(path), map_location=device).eval()
    art_classifier = PyTorchClassifier(
        art_module, torch.nn.CrossEntropyLoss(), (3, 32, 32), 10, clip_values=(0.0, 1.0),
        device_type="gpu" if device.startswith("cuda") else "cpu",
    )  # fmt: skip
    clean = float(np.mean(handle.predict_labels(x) == y))
    print(
        f"device {device}; {len(x)} samples of 3×32×32; clean accuracy {clean:.3f}; "
        f"PGD {PGD_STEPS} steps; ε grid {epsilons}"
    )

    runs = {
        "engine": lambda: engine_pgd(handle, x, y, epsilons),
        "plain torch": lambda: [plain_torch_pgd(plain_module, x, y, eps, device) for eps in epsilons],
        "ART plainly": lambda: [art_plain_pgd(art_classifier, x, y, eps) for eps in epsilons],
    }
    # On CPU the process's CPU time is the measure: other processes on a shared machine inflate
    # wall time but not the work done. On a GPU, wall time after synchronising.
    on_gpu = device.startswith("cuda")
    clock = time.perf_counter if on_gpu else time.process_time
    best = {name: float("inf") for name in runs}
    best_wall = {name: float("inf") for name in runs}
    accuracies = {}
    for _ in range(ROUNDS):  # interleaved rounds, best of each
        for name, run in runs.items():
            if on_gpu:
                torch.cuda.synchronize()
            started, started_wall = clock(), time.perf_counter()
            accuracies[name] = run()
            if on_gpu:
                torch.cuda.synchronize()
            best[name] = min(best[name], clock() - started)
            best_wall[name] = min(best_wall[name], time.perf_counter() - started_wall)

    measure = "wall" if on_gpu else "CPU"
    for name in runs:
        print(
            f"{name:12} {best[name]:7.2f} s {measure} ({best_wall[name]:.2f} s wall)   "
            f"robust accuracy {[round(a, 4) for a in accuracies[name]]}"
        )
    engine_ratio = best["engine"] / best["plain torch"]
    art_ratio = best["ART plainly"] / best["plain torch"]
    print(f"engine / plain torch = {engine_ratio:.2f}×   (target ≤ 1.3×)")
    print(f"ART plainly / plain torch = {art_ratio:.2f}×")
    assert accuracies["engine"] == accuracies["ART plainly"], "engine and ART disagree"
    assert accuracies["engine"] == accuracies["plain torch"], "engine and the plain torch loop disagree"
    quick = quick_profile_seconds(device)
    return {
        "device": device,
        "engine_over_plain": engine_ratio,
        "art_over_plain": art_ratio,
        "seconds": best,
        "robust_accuracy": accuracies["engine"],
        "quick_profile_s": quick,
    }


if __name__ == "__main__":
    main()
