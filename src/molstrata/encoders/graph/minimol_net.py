"""The MiniMol v1 network up to its last GNN layer, in plain torch + torch_geometric.

A re-implementation of graphium 2.4.7's ``FullGraphMultiTaskNetwork`` as configured by
MiniMol's ``config.yaml`` (task heads dropped). Module names follow graphium's, so the
original ``state_dict.pth`` loads key for key (``model.`` prefix removed). Dropout is
left out: the encoder runs in eval mode, where graphium's dropout is the identity.

Flow for a batch with N atoms, E directed edges and B molecules::

    PE      la_pos(eigval, eigvec) (N, 32) + rw_pos(rw) (N, 32)      -> (N, 32)
    pre_nn  [PE, atom features] (N, 117) -> 256 -> 128               -> layer 0
    edges   pre_nn_edges (E, 13) -> 128 -> 168                       (fixed for all layers)
    GNN     16 x GINE(+LayerNorm, GELU, the last one too); residual on layers 1..14;
            a log-sum virtual node after layers 0..14                -> layers 1..16
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

HIDDEN = 336
OUT = 512
EDGE_HIDDEN = 168
DEPTH = 16


class FC(nn.Module):
    """graphium ``FCLayer``: linear → LayerNorm (optional) → activation (optional)."""

    def __init__(self, in_dim: int, out_dim: int, *, norm: bool, act: nn.Module | None):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.normalization = nn.LayerNorm(out_dim) if norm else None
        self.activation = act

    def forward(self, h: Tensor) -> Tensor:
        h = self.linear(h)
        if self.normalization is not None:
            h = self.normalization(h)
        if self.activation is not None:
            h = self.activation(h)
        return h


class MLP(nn.Module):
    """graphium ``MLP``: optional first LayerNorm, then a stack of :class:`FC`."""

    def __init__(self, dims: list[int], *, norm: bool, act: type[nn.Module] | nn.Module | None,
                 last_norm: bool, last_act: type[nn.Module] | nn.Module | None,
                 first_norm: bool = False):  # fmt: skip
        super().__init__()
        self.first_normalization = nn.LayerNorm(dims[0]) if first_norm else None
        layers = []
        for i in range(len(dims) - 1):
            last = i == len(dims) - 2
            a = last_act if last else act
            layers.append(FC(dims[i], dims[i + 1], norm=last_norm if last else norm,
                             act=a() if isinstance(a, type) else a))  # fmt: skip
        self.fully_connected = nn.Sequential(*layers)
        self.in_features = dims[0]  # read by PyG's GINEConv to size its edge projection

    def forward(self, h: Tensor) -> Tensor:
        if self.first_normalization is not None:
            h = self.first_normalization(h)
        return self.fully_connected(h)


class FeedForward(nn.Module):
    """graphium ``FeedForwardNN`` without residuals: ``layers`` of :class:`FC`."""

    def __init__(self, dims: list[int], act: type[nn.Module]):
        super().__init__()
        n = len(dims) - 1
        self.layers = nn.ModuleList(
            FC(dims[i], dims[i + 1], norm=True, act=act() if i < n - 1 else None) for i in range(n)
        )

    def forward(self, h: Tensor) -> Tensor:
        for layer in self.layers:
            h = layer(h)
        return h


class LapPE(nn.Module):
    """graphium ``LapPENodeEncoder`` (DeepSet): per-eigenpair MLP, summed, then projected."""

    def __init__(self, hidden: int = 64, out: int = 32):
        super().__init__()
        self.linear_in = FC(2, hidden, norm=False, act=None)
        self.pe_encoder = MLP([hidden, hidden, hidden], norm=False, act=nn.ReLU,
                              last_norm=False, last_act=None)  # fmt: skip
        self.post_mlp = MLP([hidden, out], norm=False, act=nn.ReLU, last_norm=False, last_act=None)

    def forward(self, eigvecs: Tensor, eigvals: Tensor) -> Tensor:
        """eigvecs, eigvals: (N, k) → (N, out)."""
        # graphium reads its two input keys in the order [eigvec, eigval] into variables
        # named (eigvals, eigvecs) and stacks them as (eigvecs, eigvals): channel 0 holds the
        # eigenvalue and channel 1 the eigenvector entry.
        pe = torch.stack((eigvals, eigvecs), dim=2)  # N, k, 2
        empty = torch.isnan(pe)
        pe = pe.masked_fill(empty, 0.0)
        pe = self.pe_encoder(self.linear_in(pe))  # N, k, hidden
        pe = pe.masked_fill(empty[..., :1], 0.0).sum(dim=1)  # N, hidden
        return self.post_mlp(pe)


class RWPE(nn.Module):
    """graphium ``MLPEncoder`` on random-walk return probabilities."""

    def __init__(self, steps: int = 16, hidden: int = 64, out: int = 32):
        super().__init__()
        self.pe_encoder = MLP([steps, hidden, out], norm=True, act=nn.ReLU, last_norm=True,
                              last_act=nn.ReLU, first_norm=True)  # fmt: skip

    def forward(self, rw: Tensor) -> Tensor:
        return self.pe_encoder(rw)


class PEEncoders(nn.Module):
    """graphium's positional-encoding container: ``la_pos`` (:class:`LapPE`) and ``rw_pos``
    (:class:`RWPE`), each mapping its input to (N, 32)."""

    def __init__(self):
        super().__init__()
        self.pe_encoders = nn.ModuleDict({"la_pos": LapPE(), "rw_pos": RWPE()})


class GINELayer(nn.Module):
    """graphium ``GINEConvPyg``: PyG ``GINEConv`` (2-layer MLP), then LayerNorm, activation."""

    def __init__(self, in_dim: int, out_dim: int, edge_dim: int, act: type[nn.Module] | None):
        super().__init__()
        from torch_geometric.nn import GINEConv

        mlp = MLP([in_dim, in_dim, out_dim], norm=True, act=act, last_norm=False, last_act=None)
        self.model = GINEConv(mlp, edge_dim=edge_dim)
        self.norm_layer = nn.LayerNorm(out_dim)
        self.activation = act() if act is not None else None

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        h = self.norm_layer(self.model(x, edge_index, edge_attr))
        return self.activation(h) if self.activation is not None else h


class VirtualNode(nn.Module):
    """graphium ``VirtualNodePyg`` with ``vn_type="logsum"`` and a residual on the VN state."""

    def __init__(self, dim: int, width_mult: float = 2.0):
        super().__init__()
        self.fc_layer = FC(dim, dim, norm=True, act=nn.GELU())
        self.node_projection = nn.Linear(dim, dim)
        # graphium makes this projection a muP ``MuReadout``, which divides its input by
        # width / base width = 336 / 168 (MiniMol's base_shape.yaml); the official ONNX
        # export carries the same constant 2.0.
        self.width_mult = width_mult

    def forward(
        self, x: Tensor, vn: Tensor, batch: Tensor, counts: Tensor
    ) -> tuple[Tensor, Tensor]:
        from torch_geometric.utils import scatter

        mean = scatter(x, batch, dim=0, dim_size=counts.shape[0], reduce="mean")
        pool = mean * torch.log(counts).unsqueeze(-1)  # B, d
        vn = vn + self.fc_layer(vn + pool)
        return x + self.node_projection(vn[batch] / self.width_mult), vn


class GNN(nn.Module):
    """graphium's GNN stack: the first ``depth`` of 16 :class:`GINELayer` (widths
    ``in_dim`` → 336 ... → 512) and a :class:`VirtualNode` for each kept GINE layer 0..14."""

    def __init__(self, depth: int = DEPTH, in_dim: int = 128):
        super().__init__()
        dims = [in_dim] + [HIDDEN] * (DEPTH - 1) + [OUT]
        # graphium's FeedForwardGraph gives every layer, the last included, the same
        # activation and normalization (its last_activation/last_normalization are unused).
        self.layers = nn.ModuleList(
            GINELayer(dims[i], dims[i + 1], EDGE_HIDDEN, nn.GELU) for i in range(depth)
        )
        self.virtual_node_layers = nn.ModuleList(
            VirtualNode(HIDDEN) for _ in range(min(depth, DEPTH - 1))
        )


class MiniMolNet(nn.Module):
    """MiniMol v1 up to GNN layer ``depth - 1``; returns every layer's node states.

    Parameters
    ----------
    depth : number of GNN layers kept (1..16). Layers above are not built.
    """

    def __init__(self, depth: int = DEPTH):
        super().__init__()
        if not 0 <= depth <= DEPTH:
            raise ValueError(f"depth must be in 0..{DEPTH}, got {depth}")
        self.depth = depth
        self.encoder_manager = PEEncoders()
        self.pre_nn = FeedForward([32 + 85, 256, 128], nn.ReLU)
        self.pre_nn_edges = FeedForward([13, 128, EDGE_HIDDEN], nn.ReLU)
        self.gnn = GNN(depth)

    @property
    def dims(self) -> list[int]:
        """Width of each returned layer: 128, then 336 ..., and 512 for GNN layer 15."""
        return [128] + [HIDDEN if i < DEPTH - 1 else OUT for i in range(self.depth)]

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor,
        eigvecs: Tensor,
        eigvals: Tensor,
        rw: Tensor,
        batch: Tensor,
        num_graphs: int,
    ) -> list[Tensor]:
        """Node states of every layer.

        Parameters
        ----------
        x : (N, 85) atom features; edge_index : (2, E) int64; edge_attr : (E, 13)
        eigvecs, eigvals : (N, 8); rw : (N, 16)
        batch : (N,) int64, the molecule of each atom; num_graphs : B

        Returns
        -------
        list of ``depth + 1`` tensors of shape (N, d_k): the pre-GNN node embedding
        (d = 128), then the output of GNN layers 0..depth-1 (336; 512 for layer 15),
        each after its residual and virtual-node update, as graphium's readout cache
        (``Fingerprinter(..., "gnn:i")``) sees them.
        """
        enc = self.encoder_manager.pe_encoders
        pe = enc["la_pos"](eigvecs, eigvals) + enc["rw_pos"](rw)
        h = self.pre_nn(torch.cat((pe, x), dim=-1))
        e = (
            self.pre_nn_edges(edge_attr)
            if edge_attr.shape[0]
            else edge_attr.new_zeros(0, EDGE_HIDDEN)
        )
        counts = torch.bincount(batch, minlength=num_graphs).to(h.dtype)
        out = [h]
        prev = None
        vn = h.new_zeros(())  # graphium starts the virtual node at 0.0
        for i, layer in enumerate(self.gnn.layers):
            h = layer(h, edge_index, e)
            if i < DEPTH - 1:
                if i > 0:  # simple residual, every step but the first and the last
                    h = h + prev
                prev = h
                h, vn = self.gnn.virtual_node_layers[i](h, vn, batch, counts)
            out.append(h)
        return out
