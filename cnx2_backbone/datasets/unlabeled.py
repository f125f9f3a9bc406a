"""Unlabeled images from any folder tree, for FCMAE pretraining.

Decoding is defensive because pretraining folders are often scraped: files
that cannot be read are skipped and counted, never fatal, and every image
mode Pillow opens becomes 8-bit RGB.
"""
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
from mmengine.logging import print_log
from PIL import Image, ImageOps

from ..registry import DATASETS
from .classification import build_transforms

# Suffixes read as images, compared case-insensitively.
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp', '.ppm',
                  '.pgm', '.pbm', '.pnm')

# Errors Pillow raises for a missing, truncated, corrupted or unsupported file
# (SyntaxError and struct errors come from broken headers and EXIF blocks).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError,
                 Image.DecompressionBombError)

# Pretraining crop of the ConvNeXt V2 FCMAE recipe: RandomResizedCrop to 224
# with scale 0.2-1 (bicubic), then a horizontal flip.
DEFAULT_PIPELINE = (
    dict(type='RandomResizedCrop', size=224, scale=(0.2, 1.0), interpolation='bicubic',
         antialias=True),
    dict(type='RandomHorizontalFlip'),
)

# Modes with an alpha channel; 'La' and 'RGBa' are premultiplied.
ALPHA_MODES = ('RGBA', 'RGBa', 'LA', 'La', 'PA')

# Transparent pixels are composited onto this colour.
BACKGROUND_RGB = (255, 255, 255)


def scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Map the pixel values of a 16-bit, 32-bit integer or float image to 0..255.

    16-bit modes and integer data within 0..65535 are divided by 257 (65535
    becomes 255), float data within 0..1 is multiplied by 255, data already
    within 0..255 is kept, and anything else is scaled linearly from its
    minimum and maximum. Values are scaled, never clipped.
    """
    values = values.astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith('I;16'):
        scaled = values / 257.0
    elif mode == 'F' and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0
    elif low >= 0.0 and high <= 255.0:
        scaled = values
    elif low >= 0.0 and high <= 65535.0:
        scaled = values / 257.0
    else:
        scaled = (values - low) * (255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded image of any Pillow mode to 8-bit RGB.

    Grayscale, palette, CMYK and YCbCr images go through Pillow's conversion.
    16-bit and 32-bit grayscale are scaled to 8 bits (see
    :func:`scale_to_uint8`). Images with an alpha channel or palette
    transparency are composited onto a white background.
    """
    mode = image.mode
    if mode == 'RGB':
        return image
    if mode.startswith('I') or mode == 'F':
        gray = scale_to_uint8(np.asarray(image), mode)
        return Image.fromarray(gray, mode='L').convert('RGB')
    if mode in ALPHA_MODES or 'transparency' in image.info:
        rgba = image.convert('RGBA')
        background = Image.new('RGBA', rgba.size, BACKGROUND_RGB + (255,))
        return Image.alpha_composite(background, rgba).convert('RGB')
    return image.convert('RGB')


def decode_image(path: str) -> Image.Image:
    """Decode an image file fully, apply its EXIF orientation and convert it to RGB.

    Raises:
        One of ``DECODE_ERRORS`` for a missing, truncated, corrupted or
        unsupported file.
    """
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)


def scan_images(roots: Sequence[Path],
                suffixes: Sequence[str] = IMAGE_SUFFIXES) -> Tuple[List[str], Dict[str, int]]:
    """List the image files under ``roots``, searched recursively, in sorted order.

    Zero-byte files and files without an image suffix are left out here,
    where it costs nothing. Files that fail to decode are left out later,
    when they are read.

    Returns:
        tuple: The image paths, and the number of files left out per reason
        (``'zero-byte'``, ``'without an image suffix'``).

    Raises:
        FileNotFoundError: if a root is not a folder.
        ValueError: if no image is found.
    """
    suffixes = tuple(suffix.lower() for suffix in suffixes)
    paths: List[str] = []
    left_out = {'zero-byte': 0, 'without an image suffix': 0}
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f'Image folder not found: {root}')
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if not name.lower().endswith(suffixes):
                    left_out['without an image suffix'] += 1
                elif os.path.getsize(path) == 0:
                    left_out['zero-byte'] += 1
                else:
                    paths.append(path)
    if not paths:
        names = ', '.join(str(root) for root in roots)
        raise ValueError(f'No images found in {names} (searched recursively for the suffixes '
                         f'{list(suffixes)}); point data_root at a folder of images.')
    return paths, left_out


@DATASETS.register_module()
class UnlabeledImageFolder:
    """All images under one or more folders, searched recursively, without labels.

    Any layout works: a flat folder, ``<class>/<image>`` trees as used by
    ``torchvision.datasets.ImageFolder`` (class folders are ignored), or
    deeper trees. Zero-byte files and files without an image suffix are
    skipped at scan time and counted in the log. A file that fails to decode
    is logged once with its path and the number skipped so far by this
    process, and the next image is returned in its place, so an epoch still
    has ``len(dataset)`` items.

    Each item is ``dict(inputs=uint8 tensor (3, H, W))`` in RGB.

    Args:
        data_root (str | Sequence[str]): Folder or folders to read.
        pipeline (Sequence[dict], optional): ``torchvision.transforms.v2``
            steps, each a dict with ``type`` and its arguments; a
            ``PILToTensor`` step is appended. Defaults to RandomResizedCrop
            224 with scale (0.2, 1) and a random horizontal flip.
        suffixes (Sequence[str]): File suffixes read as images.
            Defaults to ``IMAGE_SUFFIXES``.
        max_refetch (int): Consecutive undecodable files tolerated before
            ``__getitem__`` raises. Defaults to 100.
    """

    def __init__(self,
                 data_root: Union[str, Sequence[str]],
                 pipeline: Optional[Sequence[dict]] = None,
                 suffixes: Sequence[str] = IMAGE_SUFFIXES,
                 max_refetch: int = 100) -> None:
        if max_refetch < 0:
            raise ValueError(f'max_refetch must be >= 0, got {max_refetch}')
        roots = [data_root] if isinstance(data_root, (str, os.PathLike)) else list(data_root)
        if not roots:
            raise ValueError('data_root is empty; give a folder or a list of folders.')
        self.roots = [Path(root) for root in roots]
        self.max_refetch = max_refetch
        paths, left_out = scan_images(self.roots, suffixes)
        # A numpy string array instead of a list of str: forked dataloader
        # workers read it without touching reference counts, so they share
        # its pages instead of copying them.
        self._paths = np.array(paths)
        self.transforms = build_transforms(DEFAULT_PIPELINE if pipeline is None else pipeline)
        self._undecodable: Set[int] = set()
        skipped = ', '.join(f'{count} {reason}' for reason, count in left_out.items() if count)
        print_log(f'UnlabeledImageFolder {", ".join(map(str, self.roots))}: {len(paths)} images'
                  + (f'; skipped files: {skipped}.' if skipped else '.'), logger='current')

    @property
    def metainfo(self) -> dict:
        """Dataset meta information; empty, as the images have no labels."""
        return {}

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int) -> dict:
        for _ in range(self.max_refetch + 1):
            if index not in self._undecodable:
                image = self._decode(index)
                if image is not None:
                    return dict(inputs=self.transforms(image))
            index = (index + 1) % len(self)
        raise RuntimeError(f'{self.max_refetch + 1} consecutive files under '
                           f'{", ".join(map(str, self.roots))} failed to decode; check the '
                           'files or raise max_refetch.')

    def _decode(self, index: int) -> Optional[Image.Image]:
        path = str(self._paths[index])
        try:
            return decode_image(path)
        except DECODE_ERRORS as error:
            self._undecodable.add(index)
            print_log(f'Skipping undecodable image {path}: {type(error).__name__}: {error} '
                      f'({len(self._undecodable)} skipped so far in this process).',
                      logger='current', level=30)
            return None
