"""ConvNeXt V2 encoder that computes only at the visible positions of a patch mask.

This reproduces submanifold sparse convolution in plain PyTorch: masked
positions are zero before every depthwise conv and take no part in anything
after it. The 7x7 depthwise conv runs dense on the zero-filled map. The stem,
LayerNorm, the MLP, GRN, the residual sum and the 2x2 downsampling run on a
compact list of the visible positions only.

Compact layout: an (N, H, W, C) map at stage stride s is viewed as N*H*w rows
of k*C values, where k = 32/s is the side of one patch in cells and w = W/k.
Row (n, y, j) contains the k cells of patch column j in image row y, so a row is
visible or masked as a whole, and gathers and scatters move rows of k*C
contiguous values rather than single cells. The visible rows of all samples
are kept in sorted order; their k cells each, one cell per line, form the
(N*V*k*k, C) "cells" tensor that the pointwise layers act on.
"""
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from .convnextv2 import NUM_STAGES, Block, ConvNeXtV2Stages
from .fcmae_rows import GatherRows, RowIndex, ScatterRows

# Stride of the last stage: one output position per patch of this size.
TOTAL_STRIDE = 32
# Stride of the stem: one stage-0 cell per 4x4 pixels.
STEM_STRIDE = 4
# Patch side in cells from which the depthwise weight gradient is computed
# on visible patches only. On a 2-core AMD EPYC with torch 2.14 this saved a
# third at stage 0 (8 cells) and cost more at stage 1 (4 cells), where the
# halo of 3 cells around each patch is too large a share.
TILED_WEIGHT_GRAD_MIN_SIDE = 8


def patch_side_at_stage(stage: int) -> int:
    """Return how many cells one 32-pixel patch spans per side at ``stage`` (8, 4, 2, 1)."""
    return 2 ** (NUM_STAGES - 1 - stage)


def gather_cells(x: torch.Tensor, row_index: RowIndex, patch_side: int) -> torch.Tensor:
    """Gather the visible cells of an NCHW map into (N*V*k*k, C)."""
    channels = x.shape[1]
    rows = x.permute(0, 2, 3, 1).reshape(-1, patch_side * channels)  # (N, C, H, W) -> (N*H*w, k*C)
    return GatherRows.apply(rows, row_index).reshape(-1, channels)


def scatter_cells(cells: torch.Tensor, row_index: RowIndex, shape: Tuple[int, ...],
                  patch_side: int) -> torch.Tensor:
    """Place visible cells (N*V*k*k, C) into a zero NCHW map of ``shape`` (channels_last)."""
    num_samples, channels, height, width = shape
    rows = ScatterRows.apply(cells.reshape(-1, patch_side * channels), row_index)
    # (N*H*w, k*C) -> (N, H, W, C) -> (N, C, H, W) as a channels_last view.
    return rows.reshape(num_samples, height, width, channels).permute(0, 3, 1, 2)


def conv_as_linear_weight(conv: nn.Conv2d) -> torch.Tensor:
    """Return the weight of a non-overlapping conv as (C_out, kh*kw*C_in), inputs ordered (dy, dx, C_in)."""
    return conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, -1)


def layer_norm_cells(cells: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """Apply a (channels-first or channels-last) LayerNorm's parameters to cells (M, C)."""
    return F.layer_norm(cells, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def stem_cells(images: torch.Tensor, stem: nn.Sequential, row_index: RowIndex) -> torch.Tensor:
    """Run the stem (4x4 stride-4 conv, LayerNorm) at the visible cells of stage 0 only.

    Args:
        images (Tensor): (N, C_in, H, W) images.
        stem (nn.Sequential): ``downsample_layers[0]``.
        row_index (RowIndex): Visible rows at stage 0.

    Returns:
        Tensor: (N*V*8*8, dims[0]) visible cells of stage 0.
    """
    num_samples, in_channels, height, width = images.shape
    cells_per_row = TOTAL_STRIDE // STEM_STRIDE
    pixels = images.permute(0, 2, 3, 1)  # (N, C_in, H, W) -> (N, H, W, C_in)
    # (N, H, W, C_in) -> (N, H/4, 4, W/32, 32*C_in) -> (N, H/4, W/32, 4, 32*C_in): one row
    # of stage 0 contains a 4-pixel-high strip of one patch.
    pixels = pixels.reshape(num_samples, height // STEM_STRIDE, STEM_STRIDE,
                            width // TOTAL_STRIDE, TOTAL_STRIDE * in_channels).transpose(2, 3)
    rows = pixels.reshape(-1, STEM_STRIDE * TOTAL_STRIDE * in_channels)
    rows = GatherRows.apply(rows, row_index)
    # (M, dy, cell, dx, C_in) -> (M, cell, dy, dx, C_in) -> (M*8, 16*C_in)
    windows = rows.reshape(-1, STEM_STRIDE, cells_per_row, STEM_STRIDE, in_channels).transpose(1, 2)
    windows = windows.reshape(-1, STEM_STRIDE * STEM_STRIDE * in_channels)
    cells = F.linear(windows, conv_as_linear_weight(stem[0]), stem[0].bias)
    return layer_norm_cells(cells, stem[1])


def downsample_cells(cells: torch.Tensor, layer: nn.Sequential, prev_index: RowIndex,
                     next_index: RowIndex, prev_shape: Tuple[int, ...],
                     prev_side: int) -> torch.Tensor:
    """Run a downsampling layer (LayerNorm, 2x2 stride-2 conv) on visible cells only.

    A 2x2 window never mixes a masked and a visible patch, so the result at
    the visible cells of the next stage is exact.

    Args:
        cells (Tensor): (N*V*k*k, C) visible cells of the previous stage.
        layer (nn.Sequential): ``downsample_layers[i]`` for i >= 1.
        prev_index (RowIndex): Visible rows of the previous stage.
        next_index (RowIndex): Visible rows of the next stage.
        prev_shape (tuple): (N, C, H, W) of the previous stage's map.
        prev_side (int): Cells per patch side k of the previous stage.

    Returns:
        Tensor: (N*V*(k/2)*(k/2), C_out) visible cells of the next stage.
    """
    num_samples, channels, height, width = prev_shape
    cells = layer_norm_cells(cells, layer[0])
    rows = cells.reshape(-1, prev_side * channels)  # (N*V*k, k*C)

    # Output row (n, y, j) reads input rows (n, 2y, j) and (n, 2y + 1, j). The
    # inverse index turns those full-layout rows into compact positions.
    cols = width // prev_side
    sources = prev_index.inverse.reshape(num_samples, height // 2, 2, cols).transpose(2, 3)
    sources = sources.reshape(-1, 2).index_select(0, next_index.selected).reshape(-1)
    pairs = GatherRows.apply(rows, RowIndex(sources, rows.shape[0]))

    # (M, dy, k/2, dx, C) -> (M, k/2, dy, dx, C) -> (M*k/2, 4*C)
    windows = pairs.reshape(-1, 2, prev_side // 2, 2, channels).transpose(1, 2)
    windows = windows.reshape(-1, 4 * channels)
    return F.linear(windows, conv_as_linear_weight(layer[1]), layer[1].bias)


class TiledWeightGradDepthwiseConv(torch.autograd.Function):
    """Depthwise conv whose weight gradient is summed over visible patches only.

    The forward and the input gradient are the dense oneDNN convs. The
    weight gradient of a depthwise conv is slow on CPU (about ten times the
    forward), and its output gradient is zero outside the visible patches,
    so it is computed on the visible patches cut out with their halo. This
    pays off where a patch spans many cells, i.e. at stage 0, and is used on
    CPU only: the measurement behind it was made there.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                patches: Tuple[torch.Tensor, ...], patch_side: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.patches, ctx.patch_side = patches, patch_side
        return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        channels, pad, side = x.shape[1], weight.shape[-1] // 2, ctx.patch_side
        # Under autocast the forward ran in a lower precision than x; the
        # gradients are computed in x's dtype and returned in each input's.
        grad = grad.to(x.dtype).contiguous(memory_format=torch.channels_last)
        kernel = weight.to(x.dtype)
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.nn.grad.conv2d_input(x.shape, kernel, grad, padding=pad,
                                                    groups=channels)
        if ctx.needs_input_grad[1]:
            n_index, row_index, col_index = ctx.patches
            # (N, H+2p, W+2p, C) -> (N, h, w, C, k+2p, k+2p) windows -> (P, C, k+2p, k+2p)
            padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)
            x_tiles = padded.unfold(1, side + 2 * pad, side).unfold(2, side + 2 * pad, side)
            x_tiles = x_tiles[n_index, row_index, col_index]
            # (N, H, W, C) -> (N, h, w, C, k, k) -> (P, C, k, k)
            grad_tiles = grad.permute(0, 2, 3, 1).unfold(1, side, side).unfold(2, side, side)
            grad_tiles = grad_tiles[n_index, row_index, col_index]
            grad_weight = torch.nn.grad.conv2d_weight(
                x_tiles.contiguous(memory_format=torch.channels_last), weight.shape,
                grad_tiles.contiguous(memory_format=torch.channels_last), groups=channels)
            grad_weight = grad_weight.to(weight.dtype)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2, 3)).to(weight.dtype)
        return grad_input, grad_weight, grad_bias, None, None


def masked_block_forward(block: Block, cells: torch.Tensor, row_index: RowIndex,
                         shape: Tuple[int, ...], patch_side: int,
                         patches: Optional[Tuple[torch.Tensor, ...]] = None) -> torch.Tensor:
    """Run ``block`` on the visible cells only.

    Args:
        block (Block): The block whose parameters are used.
        cells (Tensor): (N*V*k*k, C) visible cells in compact order.
        row_index (RowIndex): Visible rows of this stage, the same number for
            every sample.
        shape (tuple): (N, C, H, W) of the full map at this stage.
        patch_side (int): Cells per patch side k at this stage.
        patches (tuple[Tensor], optional): (n, i, j) indices of the visible
            patches. When given, the depthwise weight gradient is summed
            over them alone where a patch spans at least
            ``TILED_WEIGHT_GRAD_MIN_SIDE`` cells.

    Returns:
        Tensor: (N*V*k*k, C) output cells, in the same order.
    """
    num_samples, channels = shape[0], shape[1]

    # Masked inputs are zero, so the dense conv equals a submanifold conv at
    # the visible outputs; its values at masked outputs are never read.
    features = scatter_cells(cells, row_index, shape, patch_side)
    if (patches is not None and patch_side >= TILED_WEIGHT_GRAD_MIN_SIDE
            and features.device.type == 'cpu'):
        features = TiledWeightGradDepthwiseConv.apply(features, block.dwconv.weight,
                                                      block.dwconv.bias, patches, patch_side)
    else:
        features = block.dwconv(features)
    visible = gather_cells(features, row_index, patch_side)
    # (N*V*k*k, C) -> (N, V*k*k, 1, C): GRN's norm over dims (1, 2) becomes a
    # norm over each sample's visible cells, and DropPath acts per sample.
    visible = visible.reshape(num_samples, -1, 1, channels)

    visible = block.norm(visible)
    visible = block.pwconv1(visible)
    visible = block.act(visible)
    visible = block.grn(visible)
    visible = block.pwconv2(visible)
    visible = block.drop_path(visible)
    return cells + visible.reshape(-1, channels)


class FCMAEEncoder(ConvNeXtV2Stages):
    """ConvNeXt V2 stages that see only the visible patches of an image.

    Parameter names are those of :class:`ConvNeXtV2Stages`, so the weights
    load into ``ConvNeXtV2`` and ``ConvNeXtV2Classifier`` unchanged.
    Arguments are those of :class:`ConvNeXtV2Stages`.
    """

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """Encode the visible patches of images (N, C_in, H, W).

        Args:
            x (Tensor): Images whose height and width are multiples of 32.
            patch_mask (Tensor): (N, H/32, W/32), 1 at masked patches and 0 at
                visible ones, with the same number of visible patches in
                every sample.

        Returns:
            Tensor: (N, dims[-1], H/32, W/32) features, zero at masked patches.
        """
        if not bool(patch_mask.any()):
            return self.forward_dense(x)
        cells, row_index = self.forward_visible(x, patch_mask)
        num_samples, _, rows, cols = (*x.shape[:2], *patch_mask.shape[1:])
        shape = (num_samples, self.dims[-1], rows, cols)
        return scatter_cells(cells, row_index, shape, 1).contiguous()

    def forward_visible(self, x: torch.Tensor,
                        patch_mask: torch.Tensor) -> Tuple[torch.Tensor, RowIndex]:
        """Encode the visible patches and return them in compact form.

        Returns:
            tuple: (N*V, dims[-1]) features of the visible patches, sorted by
            sample, row and column, and their :class:`RowIndex` among the
            N*(H/32)*(W/32) patches.
        """
        num_samples, _, height, width = x.shape
        patches = (patch_mask == 0).nonzero(as_tuple=True)
        cells = prev_index = prev_shape = None
        for i in range(NUM_STAGES):
            patch_side = patch_side_at_stage(i)
            stride = TOTAL_STRIDE // patch_side
            shape = (num_samples, self.dims[i], height // stride, width // stride)
            row_index = RowIndex.visible_rows(patch_mask, patch_side)
            if i == 0:
                cells = stem_cells(x, self.downsample_layers[0], row_index)
            else:
                cells = downsample_cells(cells, self.downsample_layers[i], prev_index,
                                         row_index, prev_shape, patch_side * 2)
            cells = self.forward_blocks(cells, i, row_index, shape, patch_side, patches)
            prev_index, prev_shape = row_index, shape
        return cells, prev_index

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Run every stage on every position, for masks with no masked patch."""
        x = self.to_memory_format(x)
        for i in range(NUM_STAGES):
            x = self.forward_stage(x, i)
        return x

    def forward_blocks(self, cells: torch.Tensor, stage: int, row_index: RowIndex,
                       shape: Tuple[int, ...], patch_side: int,
                       patches: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Run the blocks of ``stage`` on visible cells (N*V*k*k, C)."""
        use_checkpoint = self.with_cp and self.training and cells.requires_grad
        for block in self.stages[stage]:
            if use_checkpoint:
                cells = checkpoint(masked_block_forward, block, cells, row_index, shape,
                                   patch_side, patches, use_reentrant=False)
            else:
                cells = masked_block_forward(block, cells, row_index, shape, patch_side,
                                             patches)
        return cells
