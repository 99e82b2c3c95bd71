"""Small real models and data for integration tests (trained in the test process)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def classification_data(
    rows: int = 300, cols: int = 6, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric features and a binary label that depends on the first three of them."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"x{i}" for i in range(cols)])
    logit = 2 * x["x0"] - x["x1"] + 0.5 * x["x2"]
    y = pd.Series((logit + rng.normal(scale=0.5, size=rows) > 0).astype(int), name="label")
    return x, y


def regression_data(
    rows: int = 300, cols: int = 6, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric features and a linear target with noise."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"x{i}" for i in range(cols)])
    y = pd.Series(3 * x["x0"] - 2 * x["x1"] + rng.normal(scale=0.1, size=rows), name="target")
    return x, y


def logistic(x: pd.DataFrame, y: pd.Series):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(x, y)


def torch_regressor(x: pd.DataFrame, y: pd.Series):
    """A small MLP fitted for a few steps (enough to be a real model)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)
    )
    xt = torch.tensor(x.to_numpy(), dtype=torch.float32)
    yt = torch.tensor(y.to_numpy(), dtype=torch.float32).reshape(-1, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(xt), yt)
        loss.backward()
        opt.step()
    return net.eval()
