import torch
from torch import nn


class GRN(nn.Module):
    """Global Response Normalization on channels-last input (N, H, W, C).

    For each sample and channel, ``G = ||x||_2`` over H and W, then
    ``N = G / (mean_C(G) + eps)`` and ``y = gamma * (x * N) + beta + x``.
    The statistics are computed in float32 whatever the input dtype, so
    float16 and bfloat16 activations do not overflow in the squared sum.

    Args:
        dim (int): Number of channels C.
        eps (float): Added to the channel mean of the norms. Defaults to 1e-6.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        # Stored as (C,); checkpoints with (1, 1, 1, C) or (1, C) are
        # reshaped by the checkpoint loader.
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def response_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``N`` of shape (N, 1, 1, C) in float32 for input (N, H, W, C)."""
        global_norm = torch.linalg.vector_norm(x.float(), ord=2, dim=(1, 2), keepdim=True)
        return global_norm / (global_norm.mean(dim=-1, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.response_scale(x)
        # gamma * (x * N) + beta + x == x * (1 + gamma * N) + beta, one pass over x.
        multiplier = torch.addcmul(torch.ones_like(scale), scale, self.gamma.float())
        return torch.addcmul(self.beta.to(x.dtype), x, multiplier.to(x.dtype))

    def extra_repr(self) -> str:
        return f'dim={self.gamma.numel()}, eps={self.eps}'
