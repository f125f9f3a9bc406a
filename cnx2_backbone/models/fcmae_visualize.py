"""Reconstruction pictures of a trained FCMAE: original, masked input, prediction, prediction with visible patches.

The model is rebuilt from the checkpoint alone: every size follows from the
weight shapes, and ``mask_ratio`` and ``norm_pix_loss`` come from the config
that mmengine's Runner stores in the checkpoint's ``meta``. Reading files is
left to the caller (``tools/visualize_fcmae.py``), which has the checkpoint
reader and the image decoder of the layers above this one.
"""
import re
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from PIL import Image, ImageDraw

from .fcmae import IMAGENET_MEAN, IMAGENET_STD, FCMAE, patchify, random_patch_mask, unpatchify

PANEL_TITLES = ('original', 'masked input', 'reconstruction', 'reconstruction + visible')
# Gray of the hidden patches in the masked-input panel.
MASKED_FILL = 127
GRID_PADDING = 4
TITLE_HEIGHT = 16


def count_blocks(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int:
    """Return the number of blocks ``{prefix}{j}.dwconv.weight`` in ``state_dict``."""
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.dwconv\.weight')
    return len({match[1] for key in state_dict for match in [pattern.fullmatch(key)] if match})


def fcmae_arguments_from_weights(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """Read arch, decoder size, patch size and input channels of an FCMAE from its weights."""
    stem = state_dict['encoder.downsample_layers.0.0.weight']
    dims = [stem.shape[0]] + [state_dict[f'encoder.downsample_layers.{i}.1.weight'].shape[0]
                              for i in range(1, 4)]
    depths = [count_blocks(state_dict, f'encoder.stages.{i}.') for i in range(4)]
    in_channels = stem.shape[1]
    patch_area = state_dict['pred.weight'].shape[0] // in_channels
    return dict(arch=dict(depths=depths, dims=dims),
                in_channels=in_channels,
                patch_size=int(round(patch_area ** 0.5)),
                decoder_dim=state_dict['proj.weight'].shape[0],
                decoder_depth=count_blocks(state_dict, 'decoder.'))


def training_settings(meta: Optional[Mapping]) -> dict:
    """Return ``mask_ratio`` and ``norm_pix_loss`` from the config in a Runner checkpoint's meta."""
    config_text = meta.get('cfg') if isinstance(meta, Mapping) else None
    if not isinstance(config_text, str):
        return {}
    try:
        model_cfg = Config.fromstring(config_text, file_format='.py').get('model', {})
    except (SyntaxError, ImportError, KeyError, TypeError, ValueError) as error:
        print_log(f'The config stored in the checkpoint does not parse ({error}); using the '
                  'FCMAE defaults for mask_ratio and norm_pix_loss.', logger='current', level=30)
        return {}
    return {key: model_cfg[key] for key in ('mask_ratio', 'norm_pix_loss') if key in model_cfg}


def build_fcmae_from_checkpoint(state_dict: Mapping[str, torch.Tensor],
                                meta: Optional[Mapping] = None,
                                mask_ratio: Optional[float] = None) -> FCMAE:
    """Rebuild an FCMAE in eval mode from the weights and meta of a pretraining checkpoint.

    Args:
        state_dict (Mapping): FCMAE weights; a ``module.`` prefix is removed.
        meta (Mapping, optional): The checkpoint's ``meta``, whose ``cfg``
            gives ``mask_ratio`` and ``norm_pix_loss``; FCMAE defaults without it.
        mask_ratio (float, optional): Overrides the ratio the model was
            trained with.

    Raises:
        ValueError: if the weights have no encoder or no decoder.
    """
    state_dict = {key[len('module.'):] if key.startswith('module.') else key: value
                  for key, value in state_dict.items()}
    if 'pred.weight' not in state_dict or 'encoder.downsample_layers.0.0.weight' not in state_dict:
        raise ValueError('These weights are not an FCMAE checkpoint: they have no decoder '
                         '(pred.weight) or no encoder; exported backbones cannot reconstruct.')
    arguments = fcmae_arguments_from_weights(state_dict)
    arguments.update(training_settings(meta))
    if mask_ratio is not None:
        arguments['mask_ratio'] = mask_ratio
    model = FCMAE(**arguments)
    model.load_state_dict(state_dict)
    return model.eval()


def square_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize an RGB image's shorter side to ``size`` (bicubic) and center-crop it to a square."""
    scale = size / min(image.size)
    resized = image.resize((max(size, round(image.width * scale)),
                            max(size, round(image.height * scale))), Image.BICUBIC)
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def reconstruction_panels(model: FCMAE, image: Image.Image,
                          generator: Optional[torch.Generator] = None) -> Dict[str, np.ndarray]:
    """Mask ``image`` at random, reconstruct it and return the four panels as uint8 (H, W, 3).

    With ``norm_pix_loss`` the model predicts each patch normalized to zero
    mean and unit variance. The mean and variance of the true patch turn the
    prediction back into pixels, so the colours of masked patches come from
    the original and their structure from the model.
    """
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    normalized = (pixels - mean) / std
    height, width = normalized.shape[2:]

    num_patches = (height // model.patch_size) * (width // model.patch_size)
    mask = random_patch_mask(1, num_patches, model.mask_ratio, generator=generator)
    with torch.no_grad():
        _, pred, mask = model(normalized, mask=mask)

    if model.norm_pix_loss:
        target = patchify(normalized, model.patch_size)
        pred = pred * (target.var(dim=-1, keepdim=True) + 1e-6).sqrt() \
            + target.mean(dim=-1, keepdim=True)
    reconstruction = unpatchify(pred, model.patch_size, height, width) * std + mean

    pixel_mask = unpatchify(mask[..., None].expand(-1, -1, pred.shape[-1]), model.patch_size,
                            height, width)
    masked_input = pixels * (1 - pixel_mask) + MASKED_FILL * pixel_mask
    pasted = pixels * (1 - pixel_mask) + reconstruction * pixel_mask

    def to_uint8(tensor: torch.Tensor) -> np.ndarray:
        # (1, 3, H, W) -> (H, W, 3)
        return tensor[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()

    panels = (pixels, masked_input, reconstruction, pasted)
    return {title: to_uint8(panel) for title, panel in zip(PANEL_TITLES, panels)}


def compose_grid(rows: Sequence[Dict[str, np.ndarray]]) -> Image.Image:
    """Lay out one row of panels per image under a row of column titles."""
    panel_height, panel_width = rows[0][PANEL_TITLES[0]].shape[:2]
    cell_width = panel_width + GRID_PADDING
    cell_height = panel_height + GRID_PADDING
    grid = Image.new('RGB', (GRID_PADDING + cell_width * len(PANEL_TITLES),
                             TITLE_HEIGHT + GRID_PADDING + cell_height * len(rows)), 'white')
    draw = ImageDraw.Draw(grid)
    for column, title in enumerate(PANEL_TITLES):
        draw.text((GRID_PADDING + column * cell_width, 2), title, fill='black')
    for row_index, panels in enumerate(rows):
        top = TITLE_HEIGHT + GRID_PADDING + row_index * cell_height
        for column, title in enumerate(PANEL_TITLES):
            grid.paste(Image.fromarray(panels[title]), (GRID_PADDING + column * cell_width, top))
    return grid


def reconstruction_grid(model: FCMAE, images: Sequence[Image.Image], size: int = 224,
                        seed: int = 0) -> Image.Image:
    """Return a grid with the four panels of every RGB image, one row each.

    Raises:
        ValueError: if ``size`` is not a positive multiple of the patch size.
    """
    if size <= 0 or size % model.patch_size:
        raise ValueError(f'size must be a positive multiple of {model.patch_size}, got {size}')
    generator = torch.Generator().manual_seed(seed)
    rows = [reconstruction_panels(model, square_crop(image, size), generator)
            for image in images]
    return compose_grid(rows)
