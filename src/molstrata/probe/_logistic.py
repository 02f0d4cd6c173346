"""Batched L2 logistic regression on every layer × every C, in two precisions.

The solver of :class:`~molstrata.probe.linear.LinearProbe` (classification) and of the
scaffold CV's logistic option. Per (layer, C) it minimises
``sum_i logloss(y_i, Z_i z + b) + ||z||^2 / (2 C)`` on the eigen-coordinates ``Z = Xs V`` of
a :class:`~molstrata.probe.linear._Basis` (the intercept is not penalised, as in
scikit-learn's lbfgs), by a batched L-BFGS preconditioned with the diagonal Böhning bound
``diag(lam / 4 + 1 / C, n / 4)`` and an Armijo backtracking line search. A problem stops when
the max-abs gradient of the mean loss is below ``tol``.

Dense training rows are solved in two phases:

1. **float32 products**: a float32 copy of the standardised rows ``Xs`` (and of its
   transpose; :func:`eigh32` makes it with the eigenbasis) serves the two products of each
   iteration, ``Xs w`` and ``Xs^T r``, taken as short-by-wide products (``w^T Xs^T``,
   ``r^T Xs``), about 3x faster than float64 on one core; the solver state, losses,
   gradients' assembly and line search stay float64. The margins ``Z z + b`` are carried
   along the steps, so the line search's trials need no product and see no product
   round-off. A problem whose gradient stops shrinking (round-off bound:
   :data:`PATIENCE32`) leaves this phase early.
2. **float64 finish**: from the phase-1 point, the same L-BFGS on the exact float64 products
   until the float64 gradient meets ``tol``; usually one evaluation (the check), at times a
   few iterations. The stopping rule's meaning is therefore the float64 one, as before.

Sparse rows (count fingerprints) take the same two phases, their float32 products on CSR
rows (:class:`molstrata.probe._sparse.SparseRows32`) and their float64 finish on the exact CSR
products of :class:`~molstrata.probe.linear._Basis` (session 31; before, a float64-only
solver).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from molstrata.probe._sparse import SparseRows32

#: solve dense logistic problems in float32 products first, then finish in float64
MIXED_PRECISION = True
#: the float32 phase stops at gradients below max(tol, TOL32) (its products' round-off leaves
#: the mean loss's gradient with noise of ~1e-8: a tighter tol is met in the float64 phase)
TOL32 = 1e-6
#: the float32 phase also stops a problem whose gradient has not shrunk by 10 % in this many
#: iterations (round-off bound: seen at 1.5e-6 on a C = 1 problem of cyp3a4_veith, which
#: would otherwise run max_iter iterations); the float64 phase takes it from there
PATIENCE32 = 10
#: halvings of the step at most in the line search
HALVINGS = 40


class _Rows32:
    """float32 standardised training rows of a dense :class:`~molstrata.probe.linear._Basis`.

    Attributes (torch)
    ------------------
    Xs : (L, n, d) float32, ``(X - mean) / scale``
    XsT : (L, d, n) float32, its transpose, contiguous
    """

    def __init__(self, basis: Any):
        import torch

        Xs = basis.rows32
        if Xs is None:
            Xs = (basis.X.to(torch.float32) - basis.mean.to(torch.float32)) / basis.scale.to(torch.float32)
        self.Xs = Xs.contiguous()
        self.XsT = Xs.transpose(1, 2).contiguous()
        self.V = basis.V

    def apply(self, coef: Any) -> Any:
        """``Xs V coef`` for coef (L, r, k) float64: (L, n, k) float64. Computed as
        ``((V coef)^T Xs^T)^T``: short-and-wide products are the fast ones in float32."""
        import torch

        wT = (self.V @ coef).transpose(1, 2).to(torch.float32).contiguous()  # (L, k, d)
        return (wT @ self.XsT).to(torch.float64).transpose(1, 2)

    def apply_t(self, res: Any) -> Any:
        """``V^T Xs^T res`` for res (L, n, k) float64: (L, r, k) float64."""
        import torch

        rT = res.transpose(1, 2).to(torch.float32).contiguous()  # (L, k, n)
        xt_res = (rT @ self.Xs).to(torch.float64)  # (L, k, d)
        return (xt_res @ self.V).transpose(1, 2)


def eigh32(X: Any, mean: Any, scale: Any) -> tuple[Any, Any, Any]:
    """The float32 standardised rows and the eigenbasis of their covariance.

    Parameters
    ----------
    X : (L, n, d) float64 training rows (torch, dense); mean, scale : (L, 1, d)

    Returns
    -------
    Xs (L, n, d) float32 ``(X - mean) / scale``; lam (L, d) float64 eigenvalues (>= 0) and
    V (L, d, d) float64 orthonormal directions of ``Xs^T Xs``, computed in float32
    """
    import torch

    Xs = (X.to(torch.float32) - mean.to(torch.float32)) / scale.to(torch.float32)
    G = Xs.transpose(1, 2) @ Xs
    lam, V = torch.linalg.eigh(0.5 * (G + G.transpose(1, 2)))
    return Xs, lam.to(torch.float64).clamp_min(0.0), V.to(torch.float64).contiguous()


def logistic_fit(basis: Any, y: np.ndarray, Cs: np.ndarray, *, tol: float, max_iter: int,
                 history: int = 10) -> tuple[Any, Any, int]:
    """Fit every layer of ``basis`` × every C (see the module docstring).

    Parameters
    ----------
    basis : a :class:`~molstrata.probe.linear._Basis` of L layers holding its training
        rows
    y : ndarray (n,), labels 0/1
    Cs : ndarray (n_C,), inverse penalties
    tol : stop a problem when the max-abs gradient of the mean loss (float64) is below it
    max_iter : L-BFGS iterations at most, per phase

    Returns
    -------
    coef (L, r, n_C) in eigen-coordinates, intercepts (L, n_C), iterations used (int, both
    phases)
    """
    import torch

    L, n = basis.X.shape[0], basis.X.shape[1]
    r = basis.lam.shape[1]
    dev = basis.X.device  # the probes' device
    yt = torch.from_numpy(np.array(y, dtype=np.float64)).to(dev)[None, :, None]  # (1, n, 1)
    invC = 1.0 / torch.from_numpy(np.asarray(Cs, dtype=np.float64)).to(dev)  # (n_C,)
    nC = invC.shape[0]
    Bz = basis.lam[:, None, :] / 4.0 + invC[None, :, None]
    Bb = torch.full((L, nC, 1), n / 4.0, dtype=torch.float64, device=dev)
    sqB = torch.cat([Bz, Bb], dim=2).sqrt()  # preconditioner sqrt(B): (L, n_C, r + 1)
    phi = torch.zeros((L, nC, r + 1), dtype=torch.float64, device=dev)
    it = 0
    sparse = getattr(basis, "_sparse_t", None) is not None
    if MIXED_PRECISION:
        rows = SparseRows32(basis) if sparse else _Rows32(basis)
        phi, it = _lbfgs(rows.apply, rows.apply_t, phi, yt, sqB, invC, tol=max(tol, TOL32),
                         max_iter=max_iter, history=history, patience=PATIENCE32)
        del rows
    apply_t64 = basis.apply_t if sparse else functools.partial(_apply_t64, basis)
    phi, it64 = _lbfgs(basis.apply_train, apply_t64, phi, yt, sqB, invC, tol=tol,
                       max_iter=max_iter, history=history, refresh=True)
    theta = phi / sqB
    coef = theta[..., :r].transpose(1, 2).contiguous()  # (L, r, n_C)
    return coef, theta[..., r].contiguous(), it + it64


def _apply_t64(basis: Any, res: Any) -> Any:
    """``V^T Xs^T res`` (L, r, k) on a dense basis's float64 training rows, for res (L, n, k),
    computed as ``(res^T X)^T`` (row-major X read in order: no transposed copy needed)."""
    xt_r = (res.transpose(1, 2).contiguous() @ basis.X).transpose(1, 2)  # (L, d, k)
    xt_res = (xt_r - basis.mean.transpose(1, 2) * res.sum(dim=1, keepdim=True)) / basis.scale.transpose(1, 2)
    return basis.V.transpose(1, 2) @ xt_res


def _lbfgs(apply: Callable, apply_t: Callable, phi: Any, yt: Any, sqB: Any, invC: Any, *,
           tol: float, max_iter: int, history: int, patience: int | None = None,
           refresh: bool = False) -> tuple[Any, int]:
    """Batched preconditioned L-BFGS from ``phi`` (L, n_C, r + 1) (variables ``sqB * theta``).

    ``apply(coef)`` = ``Xs V coef`` (L, n, k) and ``apply_t(res)`` = ``V^T Xs^T res``
    (L, r, k) on the training rows. The margins ``m = Z z + b`` (L, n, k) are computed once at
    the start and then carried along the steps (``m + t * (Z dz + db)``): one ``apply`` and one
    ``apply_t`` per iteration, and the line search's trial losses need no product (nor carry
    the products' round-off into the Armijo test). A value of C whose problems have stopped on
    every layer leaves the batch; the others are not affected. A problem stops when its
    gradient meets ``tol``, its line search finds no decrease, or (``patience``) its gradient
    has not shrunk by 10 % in ``patience`` iterations. ``refresh``: recompute the margins
    (and loss) from the accepted point after each step (one more product per iteration; the
    float64 finish, so that tight tolerances see no drift). Returns phi and the iterations run.
    """
    n = yt.shape[1]
    out, cols = phi.clone(), np.arange(phi.shape[1])
    m = _margins(apply, phi / sqB)
    f = _loss(m, yt, invC, phi / sqB)
    g_raw = _gradient(apply_t, m, yt, invC, phi / sqB)
    g = g_raw / sqB
    S: list[Any] = []
    Y: list[Any] = []
    R: list[Any] = []
    gamma = phi.new_ones((phi.shape[0], phi.shape[1], 1))
    best = g_raw.abs().amax(dim=2) / n  # (L, k) smallest gradient so far
    since = best.new_zeros(best.shape)  # iterations since it last shrank by 10 %
    done = best < tol
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        keep = (~done.all(dim=0)).cpu().numpy()  # (n_C,) values of C still running somewhere
        if not keep.all():
            out[:, cols[~keep]] = phi[:, ~keep]
            if not keep.any():
                it -= 1
                break
            sel = np.flatnonzero(keep)
            phi, f, g, g_raw, gamma, done, sqB, best, since = (
                t[:, sel] for t in (phi, f, g, g_raw, gamma, done, sqB, best, since))
            S, Y, R = ([t[:, sel] for t in T] for T in (S, Y, R))
            m, invC, cols = m[:, :, sel], invC[sel], cols[keep]
        d = _lbfgs_direction(g, S, Y, R, gamma)
        gd = (g * d).sum(dim=2, keepdim=True)
        bad = gd >= 0
        d = d.where(~bad, -g)
        gd = gd.where(~bad, -(g * g).sum(dim=2, keepdim=True))
        d = d.where(~done[..., None], 0.0)
        dm = _margins(apply, d / sqB)
        t, f, accepted = _armijo(m, dm, phi, d, sqB, yt, invC, f, gd, done)
        phi_new, m = phi + t * d, m + t[:, None, :, 0] * dm
        if refresh:
            m = _margins(apply, phi_new / sqB)
            f = _loss(m, yt, invC, phi_new / sqB)
        graw_new = _gradient(apply_t, m, yt, invC, phi_new / sqB)
        g_new = graw_new / sqB
        gamma = lbfgs_memory(S, Y, R, phi_new - phi, g_new - g, gamma, history)
        phi, g, g_raw = phi_new, g_new, graw_new
        gmax = g_raw.abs().amax(dim=2) / n
        shrank = gmax < 0.9 * best
        best, since = best.where(~shrank, gmax), (since + 1).where(~shrank, 0.0)
        done = done | ~accepted | (gmax < tol)
        if patience is not None:
            done = done | (since >= patience)
    else:
        it = max_iter
    out[:, cols] = phi
    return out, it


def _margins(apply: Callable, theta: Any) -> Any:
    """``Z z + b`` (L, n, k) for theta (L, k, r + 1) (coefficients z, intercept b last)."""
    return apply(theta[..., :-1].transpose(1, 2)) + theta[..., -1][:, None, :]


def _loss(m: Any, yt: Any, invC: Any, theta: Any) -> Any:
    """Penalised summed log-loss (L, k) at margins m (L, n, k), labels yt (1, n, 1)."""
    import torch

    z = theta[..., :-1]
    return (torch.nn.functional.softplus(m) - yt * m).sum(dim=1) + 0.5 * invC * (z * z).sum(dim=2)


def _gradient(apply_t: Callable, m: Any, yt: Any, invC: Any, theta: Any) -> Any:
    """Gradient in theta (L, k, r + 1) at margins m (L, n, k)."""
    import torch

    res = torch.sigmoid(m) - yt  # (L, n, k)
    gz = apply_t(res).transpose(1, 2) + invC[None, :, None] * theta[..., :-1]
    return torch.cat([gz, res.sum(dim=1)[..., None]], dim=2)


def lbfgs_memory(S: list[Any], Y: list[Any], R: list[Any], s_k: Any, y_k: Any, gamma: Any,
                 history: int) -> Any:
    """Store the step ``s_k`` and gradient change ``y_k`` (L, k, r + 1) in the L-BFGS memory
    (``S``, ``Y``, ``R`` = 1 / s·y, at most ``history`` pairs, oldest dropped) and return the
    new initial Hessian scale ``gamma`` (L, k, 1) = s·y / y·y (unchanged where s·y is not
    positive)."""
    sy = (s_k * y_k).sum(dim=2, keepdim=True)
    yy = (y_k * y_k).sum(dim=2, keepdim=True)
    S.append(s_k)
    Y.append(y_k)
    R.append((1.0 / sy.clamp_min(1e-12)).where(sy > 1e-12, 0.0))
    if len(S) > history:
        S.pop(0)
        Y.pop(0)
        R.pop(0)
    return (sy / yy.clamp_min(1e-300)).where((sy > 1e-12) & (yy > 0), gamma)


def _lbfgs_direction(g: Any, S: list[Any], Y: list[Any], R: list[Any], gamma: Any) -> Any:
    """L-BFGS two-loop recursion, per problem: the descent direction (L, n_C, r + 1) for the
    gradient ``g`` from the stored steps ``S``, gradient changes ``Y`` and ``R`` = 1 / s·y."""
    q = g.clone()
    alphas = []
    for s, yy, rho in zip(reversed(S), reversed(Y), reversed(R), strict=True):
        a = rho * (s * q).sum(dim=2, keepdim=True)
        q = q - a * yy
        alphas.append(a)
    d = gamma * q
    for (s, yy, rho), a in zip(zip(S, Y, R, strict=True), reversed(alphas), strict=True):
        bcoef = rho * (yy * d).sum(dim=2, keepdim=True)
        d = d + s * (a - bcoef)
    return -d


def _armijo(m: Any, dm: Any, phi: Any, d: Any, sqB: Any, yt: Any, invC: Any, f: Any, gd: Any,
            done: Any) -> tuple[Any, Any, Any]:
    """Backtracking Armijo line search along ``d`` (L, k, r + 1), per problem (``done`` ones
    stay put), on the carried margins ``m + t * dm`` (L, n, k): the accepted steps (L, k, 1),
    0 where none was; the losses there (L, k); which were accepted (L, k)."""
    t = phi.new_ones((phi.shape[0], phi.shape[1], 1))
    step = phi.new_zeros((phi.shape[0], phi.shape[1], 1))
    f_new = f.clone()
    accepted = done.clone()
    for _ in range(HALVINGS):
        ft = _loss(m + t[:, None, :, 0] * dm, yt, invC, (phi + t * d) / sqB)
        ok = (~accepted) & (ft <= f + 1e-4 * t[..., 0] * gd[..., 0])
        step = t.where(ok[..., None], step)
        f_new = ft.where(ok, f_new)
        accepted = accepted | ok
        if bool(accepted.all()):
            break
        t = t.where(accepted[..., None], t * 0.5)
    return step, f_new, accepted
