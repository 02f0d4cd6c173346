"""A small torch MLP probe per layer, early-stopped on the validation metric."""

from __future__ import annotations

from typing import Any

import numpy as np

from molstrata.core.choice import clearly_better
from molstrata.probe._base import PerLayerProbe
from molstrata.probe.scoring import greater_is_better, score


class MLPProbe(PerLayerProbe):
    """One hidden-layer MLP on each layer's frozen embeddings.

    Inputs are standardised on train statistics (regression targets too). Training uses
    Adam on mini-batches; after every epoch the validation metric is computed and the best
    epoch's weights are kept; training stops after ``patience`` epochs without improvement.

    Parameters
    ----------
    task_type : ``"regression"`` (MSE loss) or ``"classification"`` (binary cross-entropy)
    metric : validation metric for early stopping (default ``mae`` / ``roc-auc``)
    hidden : hidden width
    dropout : dropout before the output layer
    lr, weight_decay : Adam settings
    batch_size : molecules per step
    max_epochs, patience : early-stopping budget
    seed : seeds initialisation and batch order (layer k uses ``seed + k``)

    Attributes
    ----------
    valid_scores_ : ndarray (n_layers,), validation score at the best epoch
    best_param_ : ndarray of int (n_layers,), the best epoch per layer
    """

    def __init__(self, task_type: str = "regression", metric: str | None = None, hidden: int = 128,
                 dropout: float = 0.1, lr: float = 1e-3, weight_decay: float = 1e-5,
                 batch_size: int = 128, max_epochs: int = 200, patience: int = 20, seed: int = 0):
        self.task_type = task_type
        self.metric = metric
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.seed = seed

    def _fit_one(self, k: int, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                 metric: str) -> tuple[Any, np.ndarray, int]:
        import torch
        from torch import nn

        torch.manual_seed(self.seed + k)
        gen = torch.Generator().manual_seed(self.seed + k)
        mean, std = X.mean(axis=0), X.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        reg = self.task_type == "regression"
        y_mean, y_std = (float(y.mean()), float(y.std()) or 1.0) if reg else (0.0, 1.0)
        xt = torch.tensor((X - mean) / std, dtype=torch.float32)
        yt = torch.tensor((y - y_mean) / y_std, dtype=torch.float32)
        xv = torch.tensor((Xv - mean) / std, dtype=torch.float32)
        net = self._build_net(X.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.MSELoss() if reg else nn.BCEWithLogitsLoss()
        better = greater_is_better(metric)
        best, best_epoch, best_state, wait = None, 0, None, 0
        for epoch in range(1, self.max_epochs + 1):
            net.train()
            for idx in torch.randperm(len(xt), generator=gen).split(self.batch_size):
                opt.zero_grad()
                loss = loss_fn(net(xt[idx]).squeeze(1), yt[idx])
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                out = net(xv).squeeze(1).numpy().astype(np.float64)
            pred = out * y_std + y_mean if reg else 1.0 / (1.0 + np.exp(-out))
            s = score(metric, yv, pred)
            if best is None or clearly_better(s, best, better):  # ties: the earlier epoch
                best, best_epoch, wait = s, epoch, 0
                best_state = {n: p.detach().clone() for n, p in net.state_dict().items()}
            else:
                wait += 1
                if wait >= self.patience:
                    break
        net.load_state_dict(best_state)
        net.eval()
        model = (net, mean, std, y_mean, y_std)
        return model, self._predict_one(model, Xv), best_epoch

    def _build_net(self, n_in: int):
        """The network: (n, n_in) -> (n, 1); one hidden layer (subclasses may stack more)."""
        from torch import nn

        return nn.Sequential(nn.Linear(n_in, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
                             nn.Linear(self.hidden, 1))

    def _predict_one(self, model: Any, X: np.ndarray) -> np.ndarray:
        import torch

        net, mean, std, y_mean, y_std = model
        with torch.no_grad():
            out = net(torch.tensor((X - mean) / std, dtype=torch.float32)).squeeze(1).numpy()
        out = out.astype(np.float64)
        return out * y_std + y_mean if self.task_type == "regression" else 1.0 / (1.0 + np.exp(-out))
