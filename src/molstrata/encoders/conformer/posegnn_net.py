"""The Pos-EGNN encoder network (IBM Research), written for molstrata in plain torch.

Pos-EGNN is a GotenNet-style equivariant graph network (Aykent & Xia, "GotenNet: rethinking
efficient 3D equivariant graph neural networks", ICLR 2025) trained by IBM on MPtrj. IBM's code
(``IBM/materials``, ``models/pos_egnn/posegnn``) needs ``torch_scatter`` and ``torch_nl`` and is
not on PyPI; this module computes the same encoder from the same weights with torch and
``torch_geometric.utils`` only. Its layers are checked against IBM's code, layer by layer, on a
small random configuration (``tests/fixtures/posegnn``, made by ``tools/posegnn_reference.py``).

The graph: every ordered pair of distinct atoms of one molecule closer than ``cutoff`` (no
periodic cell), messages flowing from the source atom ``j`` to the target atom ``i``. Every
atom carries scalar features ``s`` (d) and steerable features ``t`` (K, d) over the real
spherical-harmonic components of degrees 1..lmax (K = (lmax + 1)^2 - 1).

- **node embedding** (layer 0): an atom-type embedding mixed with a cutoff-weighted sum of
  the neighbours' type embeddings, filtered by a radial (Bessel) expansion of the distance;
- **edge embedding**: (s_i + s_j) times an MLP of the radial expansion;
- **block** k (layers 1..num_layers): multi-head attention over neighbours whose logits also
  depend on the edge features; value and geometry messages update ``s`` and ``t``; the edge
  features are refined from ``t`` (but in the last block); then an equivariant feed-forward
  gate mixes ``s`` with the norms of a projection of ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from molstrata.core.errors import ConfigError

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "silu": F.silu, "swish": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "gelu": F.gelu, "relu": F.relu,
}
EDGE_UPDATE_PARTS = ("gated", "gatedt", "act", "norej", "mlp", "mlpa", "linw", "linwa", "drej")


@dataclass(frozen=True)
class PosEGNNConfig:
    """Hyper-parameters of the encoder (the names of IBM's ``config["encoder"]``).

    The defaults are the published v1-6M model's where known (``hidden_channels=256`` from
    IBM's example notebook, ``num_layers=4``) and GotenNet's constructor defaults otherwise.
    """

    hidden_channels: int = 256
    num_layers: int = 4
    n_rbf: int = 20
    cutoff: float = 5.0
    max_z: int = 100
    num_heads: int = 8
    lmax: int = 2
    epsilon: float = 1e-8
    activation: str = "silu"
    radial_basis: str = "BesselBasis"
    edge_updates: bool | str = True
    scale_edge: bool = True
    sep_int_vec: bool = True
    int_layer_norm: bool = False
    int_vector_norm: bool = False
    before_mixing_layer_norm: bool = False
    after_mixing_layer_norm: bool = False
    evec_dim: int | None = None
    emlp_dim: int | None = None
    edge_ln: str = ""
    aggr: str = "add"

    def check(self) -> PosEGNNConfig:
        """``self`` when molstrata can compute it; else a ConfigError naming the setting."""
        bad = []
        if self.activation not in ACTIVATIONS:
            bad.append(f"activation={self.activation!r} (known: {', '.join(ACTIVATIONS)})")
        if self.radial_basis.lower() not in ("besselbasis", "gaussianrbf"):
            bad.append(f"radial_basis={self.radial_basis!r} (known: BesselBasis, GaussianRBF)")
        if self.lmax not in (1, 2):
            bad.append(f"lmax={self.lmax} (molstrata computes lmax 1 or 2)")
        if self.aggr != "add":
            bad.append(f"aggr={self.aggr!r} (only 'add')")
        if self.edge_ln not in ("", "layer"):
            bad.append(f"edge_ln={self.edge_ln!r} (only '' or 'layer')")
        if self.hidden_channels % self.num_heads:
            bad.append(f"hidden_channels={self.hidden_channels} is not a multiple of num_heads={self.num_heads}")
        if isinstance(self.edge_updates, str):
            parts = [p for p in self.edge_updates.split("_") if p]
            unknown = [p for p in parts if p not in EDGE_UPDATE_PARTS]
            if unknown:
                bad.append(f"edge_updates={self.edge_updates!r} (unknown parts {unknown})")
        if bad:
            raise ConfigError(f"Pos-EGNN configuration not supported: {'; '.join(bad)}")
        return self


@dataclass(frozen=True)
class EdgeUpdate:
    """How the blocks refine the edge features (parsed from ``edge_updates``)."""

    enabled: bool
    gate: str | None = None  # "gated" (sigmoid), "gatedt" (tanh) or "act" (the activation)
    reject: bool = True  # project the direction out of both vectors before the dot product
    mlp: bool = False  # hidden layer, no final activation
    mlpa: bool = False  # hidden layer, final activation
    lin_w: int = 0  # 1: linear map of the dot products; 2: activation, linear, LayerNorm

    @classmethod
    def parse(cls, spec: bool | str) -> EdgeUpdate:
        if not spec:
            return cls(enabled=False)
        parts = spec.split("_") if isinstance(spec, str) else []
        gate = next((g for g in ("act", "gatedt", "gated") if g in parts), None)
        lin_w = 2 if "linwa" in parts else 1 if "linw" in parts else 0
        return cls(True, gate, "norej" not in parts, "mlp" in parts, "mlpa" in parts, lin_w)


def degree_slices(lmax: int) -> list[slice]:
    """Positions of degree l = 1..lmax among the K = (lmax + 1)^2 - 1 components."""
    return [slice(l * l - 1, (l + 1) ** 2 - 1) for l in range(1, lmax + 1)]  # noqa: E741


def spherical_components(unit: Tensor, lmax: int) -> Tensor:
    """Real spherical-harmonic components of degree 1..lmax of unit vectors, (E, 3) -> (E, K)."""
    x, y, z = unit.unbind(-1)
    parts = [x, y, z]
    if lmax >= 2:
        r3 = math.sqrt(3.0)
        parts += [r3 * x * z, r3 * x * y, y * y - 0.5 * (x * x + z * z), r3 * y * z,
                  r3 / 2.0 * (z * z - x * x)]
    return torch.stack(parts, dim=-1)


def cosine_cutoff(dist: Tensor, cutoff: float) -> Tensor:
    """0.5 (cos(pi d / cutoff) + 1) inside the cutoff, 0 outside; same shape as ``dist``."""
    return 0.5 * (torch.cos(dist * math.pi / cutoff) + 1.0) * (dist < cutoff).to(dist.dtype)


class RadialBasis(nn.Module):
    """Radial expansion of distances, (E,) -> (E, n_rbf): sin(f_n d) / d (Bessel, f_n = n pi /
    cutoff) or Gaussians on an even grid over [0, cutoff]."""

    def __init__(self, kind: str, n_rbf: int, cutoff: float) -> None:
        super().__init__()
        self.kind = kind.lower()
        if self.kind == "besselbasis":
            self.register_buffer("freqs", torch.arange(1, n_rbf + 1) * math.pi / cutoff)
        else:
            grid = torch.linspace(0.0, cutoff, n_rbf)
            self.register_buffer("offsets", grid)
            self.register_buffer("widths", (grid[1] - grid[0]).abs() * torch.ones_like(grid))

    def forward(self, dist: Tensor) -> Tensor:
        d = dist[:, None]
        if self.kind == "besselbasis":
            return torch.sin(d * self.freqs[None, :]) / torch.where(d == 0, torch.ones_like(d), d)
        return torch.exp(-0.5 / self.widths.pow(2) * (d - self.offsets).pow(2))


@dataclass
class Geometry:
    """The radius graph of a batch of molecules and what every block reads from it.

    Attributes
    ----------
    src, dst : (E,) int64, source atom j and target atom i of each directed edge
    dist : (E,) distances; sh : (E, K) spherical components of the unit vector r_j - r_i
    rbf : (E, n_rbf) radial expansion; fcut : (E,) cosine cutoff of the distances
    degree : (E,) number of edges leaving the source atom j
    n_atoms : int
    """

    src: Tensor
    dst: Tensor
    dist: Tensor
    sh: Tensor
    rbf: Tensor
    fcut: Tensor
    degree: Tensor
    n_atoms: int


def radius_edges(pos: Tensor, counts: list[int], cutoff: float) -> tuple[Tensor, Tensor]:
    """Ordered pairs (j, i) of distinct atoms of one molecule with |r_i - r_j| < cutoff.

    pos : (N, 3), the atoms of each molecule contiguous; counts : atoms per molecule.
    Returns src (E,) and dst (E,), int64, sorted by source then target.
    """
    srcs, dsts, start = [], [], 0
    for n in counts:
        p = pos[start:start + n]
        diff = p[None, :, :] - p[:, None, :]
        close = ((diff * diff).sum(-1) < cutoff * cutoff) & ~torch.eye(n, dtype=torch.bool, device=pos.device)
        a, b = close.nonzero(as_tuple=True)
        srcs.append(a + start)
        dsts.append(b + start)
        start += n
    return torch.cat(srcs), torch.cat(dsts)


def _segment_sum(values: Tensor, index: Tensor, n: int) -> Tensor:
    """Sum of ``values`` (E, ...) into ``n`` rows by ``index`` (E,)."""
    return values.new_zeros((n, *values.shape[1:])).index_add_(0, index, values)


class NodeEmbedding(nn.Module):
    """Layer 0: the atom-type embedding mixed with the filtered neighbour types, (N,) -> (N, d)."""

    def __init__(self, cfg: PosEGNNConfig) -> None:
        super().__init__()
        d = cfg.hidden_channels
        self.cutoff = float(cfg.cutoff)
        self.own = nn.Embedding(cfg.max_z, d, padding_idx=0)
        self.neighbour = nn.Embedding(cfg.max_z, d)
        self.radial_filter = nn.Linear(cfg.n_rbf, d)
        self.mix_hidden = nn.Linear(2 * d, d // 2)
        self.mix_norm = nn.LayerNorm(d // 2)
        self.mix_out = nn.Linear(d // 2, d)

    def forward(self, z: Tensor, g: Geometry, act: Callable[[Tensor], Tensor]) -> Tensor:
        weight = self.radial_filter(g.rbf) * g.fcut[:, None]
        gathered = _segment_sum(self.neighbour(z)[g.src] * weight, g.dst, g.n_atoms)
        mixed = self.mix_hidden(torch.cat([self.own(z), gathered], dim=1))
        return self.mix_out(act(self.mix_norm(mixed)))


class EdgeEmbedding(nn.Module):
    """Initial edge features: (s_i + s_j) times an MLP of the radial expansion, (E, d)."""

    def __init__(self, cfg: PosEGNNConfig) -> None:
        super().__init__()
        d = cfg.hidden_channels
        self.hidden = nn.Linear(cfg.n_rbf, d // 2)
        self.out = nn.Linear(d // 2, d)

    def forward(self, s: Tensor, g: Geometry, act: Callable[[Tensor], Tensor]) -> Tensor:
        return (s[g.dst] + s[g.src]) * self.out(act(self.hidden(g.rbf)))


def steerable_norm(t: Tensor, lmax: int, weight: Tensor) -> Tensor:
    """Per degree, rescale each channel's vector norm to [0, 1] between the smallest and
    largest norm of the atom (directions kept), times ``weight``; (N, K, d) -> (N, K, d)."""
    parts = []
    for sl in degree_slices(lmax):
        part = t[:, sl, :]
        norm = torch.linalg.vector_norm(part, dim=1, keepdim=True)
        if bool((norm == 0).all()):
            parts.append(torch.zeros_like(part))
            continue
        norm = norm.clamp(min=1e-12)
        lo, hi = norm.amin(dim=-1, keepdim=True), norm.amax(dim=-1, keepdim=True)
        span = torch.where(hi - lo == 0, torch.ones_like(hi), hi - lo)
        parts.append(F.relu((norm - lo) / span) * (part / norm))
    return torch.cat(parts, dim=1) * weight[None, None, :]


class EdgeRefiner(nn.Module):
    """The edge-feature update of a block: the gated dot products of the atoms' steerable
    projections (direction rejected) scale an MLP of the edge features, added to them."""

    def __init__(self, cfg: PosEGNNConfig, how: EdgeUpdate) -> None:
        super().__init__()
        d = cfg.hidden_channels
        vec = d if cfg.evec_dim is None else int(cfg.evec_dim)
        mid = d if cfg.emlp_dim is None else int(cfg.emlp_dim)
        self.how, self.lmax = how, cfg.lmax
        deep = how.mlp or how.mlpa
        self.mlp_hidden = nn.Linear(d, mid) if deep else None
        self.mlp_norm = nn.LayerNorm(mid) if deep and cfg.edge_ln == "layer" else None
        self.mlp_out = nn.Linear(mid if deep else d, d)
        self.vec_query = nn.Linear(d, vec, bias=False)
        n_keys = cfg.lmax if cfg.sep_int_vec else 1
        self.vec_keys = nn.ModuleList([nn.Linear(d, vec, bias=False) for _ in range(n_keys)])
        self.dot_map = nn.Linear(vec, d) if how.lin_w else None
        self.dot_norm = nn.LayerNorm(d) if how.lin_w == 2 else None

    def _dots(self, t: Tensor, g: Geometry) -> Tensor:
        """Sum over degrees of <a_i, b_j>, (E, vec)."""
        query = self.vec_query(t)
        slices = degree_slices(self.lmax) if len(self.vec_keys) > 1 else [slice(0, t.shape[1])]
        keys = torch.cat([w(t[:, sl, :]) for w, sl in zip(self.vec_keys, slices, strict=True)], dim=1)
        total = None
        for sl in slices:
            a, b, u = query[g.dst][:, sl, :], keys[g.src][:, sl, :], g.sh[:, sl, None]
            if self.how.reject:
                a = a - (a * u).sum(1, keepdim=True) * u
                b = b - (b * -u).sum(1, keepdim=True) * -u
            dot = (a * b).sum(1)
            total = dot if total is None else total + dot
        return total

    def forward(self, edge: Tensor, t: Tensor, g: Geometry, act: Callable[[Tensor], Tensor]) -> Tensor:
        w = self._dots(t, g)
        if self.dot_map is not None:
            w = self.dot_map(act(w) if self.how.lin_w == 2 else w)
            w = self.dot_norm(w) if self.dot_norm is not None else w
        if self.how.gate == "gated":
            w = torch.sigmoid(w)
        elif self.how.gate == "gatedt":
            w = torch.tanh(w)
        elif self.how.gate == "act":
            w = act(w)
        h = edge
        if self.mlp_hidden is not None:
            h = self.mlp_hidden(h)
            h = act(self.mlp_norm(h) if self.mlp_norm is not None else h)
        h = self.mlp_out(h)
        if not self.how.mlp:
            h = act(h)
        return edge + h * w


class Block(nn.Module):
    """One Pos-EGNN block: neighbour attention and messages, edge refinement (all blocks but
    the model's last), then the equivariant feed-forward gate."""

    def __init__(self, cfg: PosEGNNConfig, refine_edges: bool) -> None:
        super().__init__()
        d = cfg.hidden_channels
        self.d, self.heads, self.lmax = d, cfg.num_heads, cfg.lmax
        self.cutoff, self.eps, self.scale_edge = float(cfg.cutoff), float(cfg.epsilon), bool(cfg.scale_edge)
        self.scalar_norm = nn.LayerNorm(d) if cfg.int_layer_norm else None
        if cfg.int_vector_norm:
            self.register_buffer("steer_weight", torch.ones(d))
        else:
            self.steer_weight = None
        self.query, self.key = nn.Linear(d, d), nn.Linear(d, d)
        self.ctx_hidden, self.ctx_out = nn.Linear(d, d), nn.Linear(d, 3 * d)
        self.val_hidden, self.val_out = nn.Linear(d, d), nn.Linear(d, 3 * d)
        self.edge_attn = nn.Linear(d, d)
        self.edge_gate = nn.Linear(d, 3 * d, bias=False)
        how = EdgeUpdate.parse(cfg.edge_updates)
        self.refiner = EdgeRefiner(cfg, how) if refine_edges and how.enabled else None
        self.ff_proj = nn.Linear(d, d, bias=False)
        self.ff_hidden, self.ff_out = nn.Linear(2 * d, d), nn.Linear(d, 2 * d)

    def attend(self, s: Tensor, t: Tensor, edge: Tensor, g: Geometry,
               act: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """Messages j -> i summed at i: updates of s (N, d) and t (N, K, d)."""
        from torch_geometric.utils import softmax

        e, d, h = len(g.src), self.d, self.heads
        q = self.query(s).view(-1, h, d // h)
        k = self.key(s).view(-1, h, d // h)
        logits = (q[g.dst] * k[g.src] * act(self.edge_attn(edge)).view(e, h, d // h)).sum(-1)
        attn = softmax(logits, g.dst, num_nodes=g.n_atoms)
        scale = (g.degree.sqrt()[:, None] if self.scale_edge else 1.0) / math.sqrt(d)
        values = self.val_out(act(self.val_hidden(s)))[g.src].view(e, h, 3 * d // h)
        context = self.ctx_out(act(self.ctx_hidden(s)))[g.src]
        msg = (attn * scale)[:, :, None] * values
        msg = msg.reshape(e, 3 * d) + self.edge_gate(edge) * context * g.fcut[:, None]
        m_s, m_dir, m_ten = msg.split(d, dim=-1)
        m_t = m_dir[:, None, :] * g.sh[:, :, None] + m_ten[:, None, :] * t[g.src]
        return _segment_sum(m_s, g.dst, g.n_atoms), _segment_sum(m_t, g.dst, g.n_atoms)

    def feed_forward(self, s: Tensor, t: Tensor, act: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """Gate s and t by an MLP of s and the channel norms of a projection of t."""
        proj = self.ff_proj(t)
        norms = torch.sqrt((proj * proj).sum(dim=1) + self.eps)
        gates = self.ff_out(act(self.ff_hidden(torch.cat([s, norms], dim=-1))))
        return s + gates[:, : self.d], t + gates[:, None, self.d:] * proj

    def forward(self, s: Tensor, t: Tensor, edge: Tensor, g: Geometry, act: Callable[[Tensor], Tensor],
                mixing_norms: tuple[nn.Module, nn.Module]) -> tuple[Tensor, Tensor, Tensor]:
        """(s (N, d), t (N, K, d), edge (E, d)) -> the same, updated."""
        if self.scalar_norm is not None:
            s = self.scalar_norm(s)
        if self.steer_weight is not None:
            t = steerable_norm(t, self.lmax, self.steer_weight)
        ds, dt = self.attend(s, t, edge, g, act)
        s, t = s + ds, t + dt
        if self.refiner is not None:
            edge = self.refiner(edge, t, g, act)
        before, after = mixing_norms
        s, t = self.feed_forward(before(s), t, act)
        return after(s), t, edge


class PosEGNNNet(nn.Module):
    """The Pos-EGNN encoder: layer 0 (node embedding) then ``len(blocks)`` blocks.

    ``num_blocks`` may be below ``cfg.num_layers`` (a truncated model): the blocks keep the
    weights and roles they have in the full model (only the model's last block has no edge
    refinement).
    """

    def __init__(self, cfg: PosEGNNConfig, num_blocks: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg.check()
        n = cfg.num_layers if num_blocks is None else int(num_blocks)
        self.act = ACTIVATIONS[cfg.activation]
        self.radial = RadialBasis(cfg.radial_basis, cfg.n_rbf, cfg.cutoff)
        self.node_embedding = NodeEmbedding(cfg)
        self.edge_embedding = EdgeEmbedding(cfg)
        self.blocks = nn.ModuleList([Block(cfg, refine_edges=k < cfg.num_layers - 1) for k in range(n)])
        d = cfg.hidden_channels
        self.before_mixing = nn.LayerNorm(d) if cfg.before_mixing_layer_norm else nn.Identity()
        self.after_mixing = nn.LayerNorm(d) if cfg.after_mixing_layer_norm else nn.Identity()

    def geometry(self, pos: Tensor, counts: list[int]) -> Geometry:
        """The radius graph of molecules whose atoms (``counts`` each) are stacked in ``pos``."""
        src, dst = radius_edges(pos, counts, self.cfg.cutoff)
        vec = pos[src] - pos[dst]
        dist = torch.linalg.vector_norm(vec, dim=-1)
        sh = spherical_components(vec / dist[:, None], self.cfg.lmax)
        degree = torch.bincount(src, minlength=len(pos)).to(pos.dtype)[src]
        return Geometry(src, dst, dist, sh, self.radial(dist), cosine_cutoff(dist, self.cfg.cutoff),
                        degree, len(pos))

    def forward(self, z: Tensor, pos: Tensor, counts: list[int]) -> list[Tensor]:
        """Scalar node states of every layer.

        z : (N,) int64 atomic numbers; pos : (N, 3) Angstrom; counts : atoms per molecule
        (contiguous in ``z``/``pos``). Returns ``1 + len(blocks)`` tensors of shape (N, d).
        """
        g = self.geometry(pos, counts)
        s = self.node_embedding(z, g, self.act)
        edge = self.edge_embedding(s, g, self.act)
        t = s.new_zeros((len(z), (self.cfg.lmax + 1) ** 2 - 1, self.cfg.hidden_channels))
        layers = [s]
        for block in self.blocks:
            s, t, edge = block(s, t, edge, g, self.act, (self.before_mixing, self.after_mixing))
            layers.append(s)
        return layers
