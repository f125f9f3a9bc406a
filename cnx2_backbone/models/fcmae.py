"""FCMAE: the fully convolutional masked autoencoder that pretrains ConvNeXt V2.

Random 32x32 patches of each image are hidden. A ConvNeXt V2 encoder
computes only at the visible ones (see :mod:`.fcmae_encoder`), and a light
decoder predicts the pixels of the hidden ones (Woo et al., "ConvNeXt V2:
Co-designing and Scaling ConvNets with Masked Autoencoders", CVPR 2023).
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import nn
from torch.nn import functional as F

from ..registry import MODELS
from .convnextv2 import Block
from .fcmae_encoder import TOTAL_STRIDE, FCMAEEncoder
from .fcmae_rows import GatherRows, RowIndex, ScatterRows

# ImageNet mean and std in 0-255 pixel units, as mmengine's ImgDataPreprocessor takes them.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# Key prefix of the encoder in an FCMAE state dict; the rest of each key is
# the ConvNeXtV2 backbone key.
ENCODER_PREFIX = 'encoder.'


def random_patch_mask(num_samples: int, num_patches: int, mask_ratio: float,
                      device: Optional[torch.device] = None,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw a random patch mask with the same number of masked patches per sample.

    ``int(num_patches * (1 - mask_ratio))`` patches stay visible, at least one.
    The draw uses ``generator`` or torch's default generator on ``device``, so
    it is reproducible under ``torch.manual_seed`` and differs between calls.

    Returns:
        Tensor: (N, L) float mask, 1 at masked patches and 0 at visible ones.
    """
    # The small offset keeps e.g. 10 * (1 - 0.6) = 3.9999999999999996 at 4.
    num_visible = max(1, int(num_patches * (1.0 - mask_ratio) + 1e-6))
    noise = torch.rand(num_samples, num_patches, device=device, generator=generator)
    # The num_visible patches with the lowest noise stay visible.
    ranks = noise.argsort(dim=1).argsort(dim=1)
    return (ranks >= num_visible).float()


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images (N, C, H, W) into patches (N, L, p*p*C).

    Patches run row by row; within a patch the values are ordered by row,
    column, then channel.
    """
    num_samples, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    patches = images.reshape(num_samples, channels, rows, patch_size, cols, patch_size)
    patches = patches.permute(0, 2, 4, 3, 5, 1)  # (N, C, h, p, w, p) -> (N, h, w, p, p, C)
    return patches.reshape(num_samples, rows * cols, patch_size * patch_size * channels)


def unpatchify(patches: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Reassemble patches (N, L, p*p*C) into images (N, C, H, W); inverse of :func:`patchify`."""
    num_samples = patches.shape[0]
    rows, cols = height // patch_size, width // patch_size
    channels = patches.shape[2] // (patch_size * patch_size)
    images = patches.reshape(num_samples, rows, cols, patch_size, patch_size, channels)
    images = images.permute(0, 5, 1, 3, 2, 4)  # (N, h, w, p, p, C) -> (N, C, h, p, w, p)
    return images.reshape(num_samples, channels, height, width)


@MODELS.register_module()
class FCMAE(BaseModel):
    """Fully convolutional masked autoencoder with a ConvNeXt V2 encoder.

    ``model(images)`` returns ``(loss, pred, mask)``. In an mmengine Runner
    the model is called with ``mode='loss'`` and returns ``dict(loss=...)``.

    Args:
        arch (str | dict): Encoder arch, as for ``ConvNeXtV2``: one of
            ``atto, femto, pico, nano, tiny, base, large, huge`` or a dict
            with ``depths`` and ``dims``. Defaults to ``'atto'``.
        patch_size (int): Side of a masked patch in pixels. It must equal the
            encoder's total stride, 32, so that each output position of the
            encoder is one patch. Defaults to 32.
        mask_ratio (float): Fraction of patches masked per image, in [0, 1).
            Defaults to 0.6.
        decoder_dim (int): Channels of the decoder. Defaults to 512.
        decoder_depth (int): Number of ConvNeXt V2 blocks in the decoder.
            Defaults to 1.
        norm_pix_loss (bool): Normalize each target patch to zero mean and
            unit variance before the loss. Defaults to True.
        in_channels (int): Image channels. Defaults to 3.
        drop_path_rate (float): Stochastic depth rate of the last encoder
            block. Defaults to 0.
        with_cp (bool): Gradient checkpointing per encoder block.
            Defaults to False.
        data_preprocessor (dict, optional): mmengine data preprocessor config
            used by the Runner. Defaults to ``ImgDataPreprocessor`` with the
            ImageNet mean and std.
        init_cfg (dict | list[dict], optional): mmengine initialization config.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'atto',
                 patch_size: int = 32,
                 mask_ratio: float = 0.6,
                 decoder_dim: int = 512,
                 decoder_depth: int = 1,
                 norm_pix_loss: bool = True,
                 in_channels: int = 3,
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor', mean=IMAGENET_MEAN,
                                     std=IMAGENET_STD)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if patch_size != TOTAL_STRIDE:
            raise ValueError(f'patch_size must be {TOTAL_STRIDE}, the total stride of the '
                             f'ConvNeXt V2 encoder, got {patch_size!r}.')
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio!r}.')
        if decoder_dim < 1 or decoder_depth < 0:
            raise ValueError(f'decoder_dim must be positive and decoder_depth non-negative, '
                             f'got decoder_dim={decoder_dim!r}, decoder_depth={decoder_depth!r}.')
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.in_channels = in_channels

        self.encoder = FCMAEEncoder(arch=arch, in_channels=in_channels,
                                    drop_path_rate=drop_path_rate, with_cp=with_cp,
                                    channels_last=True)

        self.proj = nn.Conv2d(self.encoder.dims[-1], decoder_dim, kernel_size=1)
        self.mask_token = nn.Parameter(torch.zeros(1, decoder_dim, 1, 1))
        self.decoder = nn.Sequential(*[Block(decoder_dim) for _ in range(decoder_depth)])
        self.pred = nn.Conv2d(decoder_dim, patch_size * patch_size * in_channels, kernel_size=1)
        self._init_decoder_weights()

    def _init_decoder_weights(self) -> None:
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for module in (self.proj, self.decoder, self.pred):
            for layer in module.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(layer.weight, std=0.02)
                    nn.init.zeros_(layer.bias)

    def check_image_size(self, images: torch.Tensor) -> None:
        """Raise ValueError unless images are (N, in_channels, H, W) with H, W multiples of 32."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f'FCMAE expects images of shape (N, {self.in_channels}, H, W), '
                             f'got {tuple(images.shape)}.')
        height, width = images.shape[2:]
        if height % self.patch_size or width % self.patch_size or min(height, width) == 0:
            raise ValueError(f'FCMAE input size {height}x{width} is invalid: height and width '
                             f'must be positive multiples of the patch size {self.patch_size}.')

    def random_mask(self, images: torch.Tensor) -> torch.Tensor:
        """Draw an (N, L) patch mask for ``images`` with ``mask_ratio``; 1 means masked."""
        height, width = images.shape[2:]
        num_patches = (height // self.patch_size) * (width // self.patch_size)
        return random_patch_mask(images.shape[0], num_patches, self.mask_ratio,
                                 device=images.device)

    def forward_encoder(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode the visible patches; return (N, dims[-1], H/32, W/32), zero at masked ones."""
        rows, cols = images.shape[2] // self.patch_size, images.shape[3] // self.patch_size
        return self.encoder(images, mask.reshape(-1, rows, cols))

    def forward_decoder(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict the pixels of every patch from encoder features.

        Returns:
            Tensor: (N, L, p*p*C) predicted patches, ordered as :func:`patchify`.
        """
        x = self.embed_decoder_input(features, mask)
        x = self.decoder(x)
        x = x.flatten(2).transpose(1, 2)  # (N, D, h, w) -> (N, L, D)
        # The 1x1 prediction conv as a linear layer: a plain matrix product
        # on CPU, where the 1x1 conv would take a slower generic path.
        return F.linear(x, self.pred.weight.flatten(1), self.pred.bias)

    def forward_decoder_masked(self, x: torch.Tensor, masked_rows: RowIndex) -> torch.Tensor:
        """Predict the pixels of the masked patches only; the loss needs no others.

        Every decoder position still takes part in the depthwise convs and in
        the GRN statistics, so the result equals the masked rows of
        :meth:`forward_decoder`; only the last block's second linear layer
        and the prediction layer are skipped at visible patches.

        Args:
            x (Tensor): (N, D, h, w) decoder input from :meth:`embed_visible`.
            masked_rows (RowIndex): The masked patches among the N*L patches.

        Returns:
            Tensor: (M, p*p*C) predictions of the M masked patches, in the
            order of ``masked_rows.selected``.
        """
        for block in self.decoder[:-1]:
            x = block(x)
        if len(self.decoder) > 0:
            rows = self.last_block_rows(self.decoder[-1], x, masked_rows)
        else:
            rows = GatherRows.apply(x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]), masked_rows)
        return F.linear(rows, self.pred.weight.flatten(1), self.pred.bias)

    @staticmethod
    def last_block_rows(block: Block, x: torch.Tensor, masked_rows: RowIndex) -> torch.Tensor:
        """Run ``block`` on (N, D, h, w) and return its output at the masked rows, (M, D)."""
        channels = x.shape[1]
        hidden = block.dwconv(x).permute(0, 2, 3, 1)  # (N, D, h, w) -> (N, h, w, D)
        hidden = block.norm(hidden)
        hidden = block.pwconv1(hidden)
        hidden = block.act(hidden)
        hidden = block.grn(hidden)
        hidden = GatherRows.apply(hidden.reshape(-1, hidden.shape[-1]), masked_rows)
        # Decoder blocks are built without stochastic depth, so drop_path is
        # the identity and needs no per-sample grouping here.
        hidden = block.drop_path(block.pwconv2(hidden))
        shortcut = x.permute(0, 2, 3, 1).reshape(-1, channels)  # (N, D, h, w) -> (N*L, D)
        return GatherRows.apply(shortcut, masked_rows) + hidden

    def embed_decoder_input(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Project encoder features (N, C, h, w) to the decoder width and put the mask token at masked patches."""
        # The 1x1 projection as a linear layer on (N, h, w, C).
        x = F.linear(features.permute(0, 2, 3, 1), self.proj.weight.flatten(1), self.proj.bias)
        num_samples, rows, cols, _ = x.shape
        patch_mask = mask.reshape(num_samples, rows, cols, 1).to(x.dtype)
        x = x * (1 - patch_mask) + self.mask_token.reshape(-1).to(x.dtype) * patch_mask
        return x.permute(0, 3, 1, 2)  # (N, h, w, D) -> (N, D, h, w)

    def embed_visible(self, cells: torch.Tensor, visible_rows: RowIndex, mask: torch.Tensor,
                      grid: Tuple[int, int]) -> torch.Tensor:
        """Build the decoder input from the compact encoder output, projecting visible patches only.

        Args:
            cells (Tensor): (N*V, C) encoder features of the visible patches.
            visible_rows (RowIndex): The visible patches among the N*L patches.
            mask (Tensor): (N, L) patch mask, 1 = masked.
            grid (tuple[int, int]): Patch rows h and columns w.

        Returns:
            Tensor: (N, D, h, w) decoder input, equal to :meth:`embed_decoder_input`.
        """
        projected = F.linear(cells, self.proj.weight.flatten(1), self.proj.bias)
        x = ScatterRows.apply(projected, visible_rows)  # (N*L, D), zero at masked patches
        token = self.mask_token.reshape(1, -1).to(x.dtype)
        x = x + mask.reshape(-1, 1).to(x.dtype) * token
        num_samples = mask.shape[0]
        # (N*L, D) -> (N, h, w, D) -> (N, D, h, w)
        return x.reshape(num_samples, *grid, -1).permute(0, 3, 1, 2)

    def normalize_target(self, target: torch.Tensor) -> torch.Tensor:
        """Normalize target patches (..., p*p*C) to zero mean and unit variance when ``norm_pix_loss``.

        The result is float32 or wider, also for float16 and bfloat16 input.
        """
        target = target.to(torch.promote_types(target.dtype, torch.float32))
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

    def patch_loss(self, images: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """Return the mean squared error of every patch, shape (N, L)."""
        target = self.normalize_target(patchify(images, self.patch_size))
        return (pred.to(target.dtype) - target).pow(2).mean(dim=-1)

    def forward_loss(self, images: torch.Tensor, pred: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """Average the patch loss over masked patches.

        With no masked patch (``mask_ratio=0``) the average runs over all
        patches instead, so that the model trains as a plain autoencoder.
        """
        loss = self.patch_loss(images, pred)
        mask = mask.to(loss.dtype)
        if not bool(mask.any()):
            return loss.mean()
        return (loss * mask).sum() / mask.sum()

    def check_mask(self, images: torch.Tensor, mask: torch.Tensor) -> None:
        """Raise ValueError unless ``mask`` is (N, L) with equal visible counts per sample."""
        num_patches = (images.shape[2] // self.patch_size) * (images.shape[3] // self.patch_size)
        expected = (images.shape[0], num_patches)
        if tuple(mask.shape) != expected:
            raise ValueError(f'mask must have shape (N, L) = {expected} for images of shape '
                             f'{tuple(images.shape)}, got {tuple(mask.shape)}.')
        visible_counts = (mask == 0).sum(dim=1)
        if bool((visible_counts != visible_counts[0]).any()):
            raise ValueError('Every sample needs the same number of visible patches, got '
                             f'{visible_counts.tolist()}.')

    def prepare_mask(self, images: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Check ``images`` and return ``mask`` as float32 on their device, or a random one."""
        self.check_image_size(images)
        if mask is None:
            return self.random_mask(images)
        self.check_mask(images, mask)
        return mask.to(device=images.device, dtype=torch.float32)

    def reconstruct(self, images: torch.Tensor,
                    mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
        """Return ``(loss, pred, mask)`` for images (N, C, H, W).

        Args:
            images (Tensor): Normalized images; height and width must be
                multiples of 32. Any batch size from 1 works.
            mask (Tensor, optional): (N, L) patch mask, 1 = masked, with the
                same number of masked patches per sample. Drawn at random
                with ``mask_ratio`` when omitted.

        Returns:
            tuple: ``loss`` (scalar, mean squared error over masked patches),
            ``pred`` (N, L, p*p*C) predicted patches of every patch, in the
            normalized pixel space of the target when ``norm_pix_loss``,
            and ``mask`` (N, L), 1 at masked patches. L = (H/32) * (W/32).
        """
        mask = self.prepare_mask(images, mask)
        features = self.forward_encoder(images, mask)
        pred = self.forward_decoder(features, mask)
        loss = self.forward_loss(images, pred, mask)
        return loss, pred, mask

    def forward_train_loss(self, images: torch.Tensor,
                           mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Return the loss of :meth:`reconstruct` without predicting visible patches.

        Same value and gradients as ``reconstruct(images, mask)[0]``, for
        less work: the decoder output is computed at masked patches only.
        """
        mask = self.prepare_mask(images, mask)
        if not bool(mask.any()):
            features = self.forward_encoder(images, mask)
            return self.forward_loss(images, self.forward_decoder(features, mask), mask)

        grid = (images.shape[2] // self.patch_size, images.shape[3] // self.patch_size)
        cells, visible_rows = self.encoder.forward_visible(images, mask.reshape(-1, *grid))
        decoder_input = self.embed_visible(cells, visible_rows, mask, grid)
        masked_rows = RowIndex.from_row_mask(mask.reshape(-1) > 0)
        pred = self.forward_decoder_masked(decoder_input, masked_rows)
        target = patchify(images, self.patch_size)
        target = target.reshape(-1, target.shape[-1]).index_select(0, masked_rows.selected)
        target = self.normalize_target(target)
        return (pred.to(target.dtype) - target).pow(2).mean()

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                mode: str = 'tensor',
                mask: Optional[torch.Tensor] = None
                ) -> Union[Dict[str, torch.Tensor], Tuple[torch.Tensor, ...]]:
        """Mask, encode, decode and score images (N, C, H, W).

        ``mode='tensor'`` (the default) and ``'predict'`` return
        ``(loss, pred, mask)`` as :meth:`reconstruct` does; ``mode='loss'``
        returns ``dict(loss=loss)`` from :meth:`forward_train_loss` for
        mmengine's ``train_step``. ``data_samples`` is accepted for the
        Runner's interface and unused.
        """
        if mode == 'loss':
            return dict(loss=self.forward_train_loss(inputs, mask))
        if mode in ('tensor', 'predict'):
            return self.reconstruct(inputs, mask)
        raise ValueError(f'mode must be "loss", "tensor" or "predict", got {mode!r}.')


def fcmae_to_backbone_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Keep the encoder weights of an FCMAE state dict under ConvNeXtV2 backbone keys.

    Keys may carry a ``module.`` prefix from DistributedDataParallel.
    Decoder, projection, mask token and prediction weights are dropped.

    Raises:
        ValueError: if no key starts with ``encoder.``.
    """
    backbone = {}
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if key.startswith(ENCODER_PREFIX):
            backbone[key[len(ENCODER_PREFIX):]] = value
    if not backbone:
        sample = sorted(state_dict)[:5]
        raise ValueError(f'No "{ENCODER_PREFIX}*" keys in this state dict, so it is not an FCMAE '
                         f'checkpoint; first keys: {sample}.')
    return backbone
