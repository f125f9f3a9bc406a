import torch
from torch import nn


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Drop whole residual branches per sample (stochastic depth).

    Surviving samples are scaled by ``1 / (1 - drop_prob)`` so that the
    expected value is unchanged. Outside training the input is returned as is.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    # One Bernoulli draw per sample, broadcast over every other dimension.
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    keep_mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * keep_mask.div_(keep_prob)


class DropPath(nn.Module):
    """Stochastic depth as a module.

    Args:
        drop_prob (float): Probability of dropping the branch of a sample.
            Defaults to 0.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
