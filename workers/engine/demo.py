"""riskapp's demo models: a small digits CNN and two breast-cancer classifiers, trained on bundled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workers.engine.data import builtin_dataset


def _digits_cnn_class():
    import torch
    from torch import nn

    class DigitsCNN(nn.Module):
        """Two convolutions and two linear layers over 1×8×8 digit images; returns logits."""

        def __init__(self, width: int = 16):
            super().__init__()
            self.conv1 = nn.Conv2d(1, width, kernel_size=3, padding=1)
            self.conv2 = nn.Conv2d(width, 2 * width, kernel_size=3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(2 * width * 16, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.conv1(x))
            x = self.pool(torch.relu(self.conv2(x)))
            x = torch.relu(self.fc1(torch.flatten(x, 1)))
            return self.fc2(x)

    return DigitsCNN


def train_digits_cnn(epochs: int = 12, seed: int = 0, width: int = 16):
    """Train the digits CNN on the built-in digits train split; returns the torch module in eval mode.

    A smaller width or fewer epochs give a weaker model (used to demonstrate regressions).
    """
    import torch

    splits = builtin_dataset("digits")
    x_train, y_train = splits["train"]
    torch.manual_seed(seed)
    model = _digits_cnn_class()(width=width)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_t, y_t = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x_t), generator=generator)
        for start in range(0, len(order), 32):
            index = order[start : start + 32]
            optimizer.zero_grad()
            loss_fn(model(x_t[index]), y_t[index]).backward()
            optimizer.step()
    return model.eval()


def accuracy(predict_labels, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict_labels(x) == y))


def _cancer_train():
    return builtin_dataset("breast_cancer")["train"]


def train_cancer_logreg(seed: int = 0):
    """Logistic regression on min-max scaled breast-cancer features (white-box via ART)."""
    from sklearn.linear_model import LogisticRegression

    x, y = _cancer_train()
    return LogisticRegression(max_iter=2000, random_state=seed).fit(x, y)


def train_cancer_gbc(seed: int = 0):
    """Gradient boosting on breast-cancer features (trees: black-box only)."""
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = _cancer_train()
    return GradientBoostingClassifier(n_estimators=60, max_depth=2, random_state=seed).fit(x, y)


def save_torchscript(module, path: str | Path, example_input=None) -> Path:
    """Script (or trace on example_input) and save a torch module the way riskapp asks users to."""
    import torch

    path = Path(path)
    module = module.eval()
    try:
        scripted = torch.jit.script(module)
    except Exception:  # modules with Python-only constructs can still be traced
        scripted = torch.jit.trace(
            module, example_input if example_input is not None else torch.zeros(1, 1, 8, 8)
        )
    torch.jit.save(scripted, str(path))
    return path


def save_skops(estimator, path: str | Path) -> Path:
    import skops.io as sio

    path = Path(path)
    sio.dump(estimator, str(path))
    return path
