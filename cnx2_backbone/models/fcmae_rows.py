"""Row selections with gathers and scatters whose backward passes are gathers too.

The masked FCMAE encoder and decoder move visible or masked positions between
a full map and a compact list. ``index_select``'s own backward accumulates
with a scatter-add, which is several times slower on CPU than a gather.
These selections never repeat a row, so both directions can gather.
"""
import torch


class RowIndex:
    """An ordered selection of rows of a 2-D tensor, with its inverse.

    Args:
        selected (Tensor): Indices of the chosen rows, each at most once (not
            checked: the gathers' backward passes rely on it).
        num_rows (int): Number of rows R of the tensor selected from.

    Attributes:
        selected (Tensor): As given.
        inverse (Tensor): (R,) position of each row in ``selected``, or
            ``len(selected)`` for a row that is not chosen.
    """

    def __init__(self, selected: torch.Tensor, num_rows: int) -> None:
        self.selected = selected
        self.inverse = torch.full((num_rows,), selected.numel(), dtype=torch.long,
                                  device=selected.device)
        self.inverse[selected] = torch.arange(selected.numel(), device=selected.device)

    @property
    def is_permutation(self) -> bool:
        return self.selected.numel() == self.inverse.numel()

    @classmethod
    def from_row_mask(cls, row_selected: torch.Tensor) -> 'RowIndex':
        """Select the True rows of an (R,) bool tensor, in order."""
        return cls(row_selected.nonzero().squeeze(1), row_selected.numel())

    @classmethod
    def visible_rows(cls, patch_mask: torch.Tensor, patch_side: int) -> 'RowIndex':
        """Select the visible rows of the compact layout at a stage.

        Args:
            patch_mask (Tensor): (N, h, w) patch mask, 1 = masked.
            patch_side (int): Cells per patch side k at the stage.

        The rows come in sorted order, so the rows of one sample form one
        contiguous run.
        """
        row_visible = (patch_mask == 0).repeat_interleave(patch_side, dim=1)  # (N, h, w) -> (N, h*k, w)
        return cls.from_row_mask(row_visible.reshape(-1))


def _select_rows(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return rows.index_select(0, index)


def _expand_rows(compact: torch.Tensor, row_index: RowIndex) -> torch.Tensor:
    if row_index.is_permutation:
        return compact.index_select(0, row_index.inverse)
    # A trailing zero row serves every row that is not selected.
    padded = torch.cat([compact, compact.new_zeros(1, compact.shape[1])])
    return padded.index_select(0, row_index.inverse)


class GatherRows(torch.autograd.Function):
    """``rows[row_index.selected]`` with a backward that gathers too.

    The default backward of ``index_select`` accumulates with a scatter-add,
    which is several times slower on CPU than a gather. The selected indices
    are unique, so gathering through the inverse index gives the same
    gradient.
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor, row_index: RowIndex) -> torch.Tensor:
        ctx.row_index = row_index
        return _select_rows(rows, row_index.selected)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _expand_rows(grad.contiguous(), ctx.row_index), None


class ScatterRows(torch.autograd.Function):
    """Place compact rows at ``row_index.selected`` of a zero tensor; inverse of :class:`GatherRows`."""

    @staticmethod
    def forward(ctx, compact: torch.Tensor, row_index: RowIndex) -> torch.Tensor:
        ctx.row_index = row_index
        return _expand_rows(compact, row_index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _select_rows(grad.contiguous(), ctx.row_index.selected), None
