"""Image classification data in the folder-per-class layout (torchvision ImageFolder)."""
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode, v2

from ..registry import DATASETS

# Suffixes read as images, compared case-insensitively (torchvision's list).
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')

# Resize + center crop at 224 px with the 0.875 crop ratio of ImageNet evaluation.
DEFAULT_PIPELINE = (
    dict(type='Resize', size=256, interpolation='bicubic', antialias=True),
    dict(type='CenterCrop', size=224),
)


def build_transforms(pipeline: Sequence[dict]) -> Callable:
    """Build torchvision ``transforms.v2`` steps from config dicts.

    Each dict names a class of ``torchvision.transforms.v2`` in ``type``,
    and the other keys are its arguments. An ``interpolation`` given as a
    string (``'bicubic'``) becomes the matching ``InterpolationMode``. A
    ``PILToTensor`` step is appended unless the pipeline has one, so the
    result maps a PIL image to a uint8 (3, H, W) tensor.

    Raises:
        ValueError: for a step without ``type`` or with an unknown type.
    """
    steps = []
    for step_cfg in pipeline:
        step_cfg = dict(step_cfg)
        name = step_cfg.pop('type', None)
        step_class = getattr(v2, name, None) if isinstance(name, str) else None
        if step_class is None or not isinstance(step_class, type):
            raise ValueError(f'Unknown transform {name!r} in {step_cfg!r}: "type" must name a '
                             'class of torchvision.transforms.v2, e.g. "RandomResizedCrop".')
        if isinstance(step_cfg.get('interpolation'), str):
            step_cfg['interpolation'] = InterpolationMode(step_cfg['interpolation'].lower())
        steps.append(step_class(**step_cfg))
    if not any(isinstance(step, v2.PILToTensor) for step in steps):
        steps.append(v2.PILToTensor())
    return v2.Compose(steps)


def scan_image_folder(root: Path, classes: Optional[Sequence[str]] = None,
                      extensions: Sequence[str] = IMG_EXTENSIONS
                      ) -> Tuple[Tuple[str, ...], List[str], List[int]]:
    """List ``root/<class>/**/<image>`` as (classes, paths, labels), sorted by name.

    Without ``classes`` every sub-folder of ``root`` is a class, in sorted
    order. With ``classes`` the label is the position in that sequence,
    other sub-folders are left out, and a class without a folder is logged
    and gets no images.

    Raises:
        FileNotFoundError: if ``root`` is not a folder or no image is found.
    """
    if not root.is_dir():
        raise FileNotFoundError(f'Image folder not found: {root}')
    folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if classes is None:
        classes = tuple(folders)
    else:
        classes = tuple(classes)
        absent = [name for name in classes if name not in folders]
        if absent:
            print_log(f'{root} has no folder for the classes {absent}; they get no images.',
                      logger='current', level=30)
        ignored = [name for name in folders if name not in classes]
        if ignored:
            print_log(f'{root}: the folders {ignored} are not in the class list and are '
                      'left out.', logger='current', level=30)

    suffixes = tuple(suffix.lower() for suffix in extensions)
    paths: List[str] = []
    labels: List[int] = []
    for label, name in enumerate(classes):
        class_root = root / name
        if not class_root.is_dir():
            continue
        found = sorted(str(path) for path in class_root.rglob('*')
                       if path.suffix.lower() in suffixes and path.is_file())
        paths.extend(found)
        labels.extend([label] * len(found))
    if not paths:
        raise FileNotFoundError(f'No images with suffixes {list(suffixes)} in the class '
                                f'folders of {root}; expected root/<class name>/<image>.')
    return classes, paths, labels


@DATASETS.register_module()
class ImageFolderDataset(Dataset):
    """Images stored as ``data_root/<class name>/<image>``, one folder per class.

    Class names are the sorted folder names, label 0 the first, as in
    ``torchvision.datasets.ImageFolder``. They are exposed as
    ``metainfo['classes']``, which mmengine's Runner stores in every
    checkpoint under ``meta['dataset_meta']``.

    Images are decoded by ``decode_image`` of the pretraining dataset, which
    applies the EXIF orientation and converts every Pillow mode to RGB.
    A file that fails to decode is logged with its path and the number of
    files skipped so far by this process, and the next image is returned in
    its place. The process does not read that file again. An epoch
    therefore still has ``len(dataset)`` items, with a few repeated.

    Each item is ``dict(inputs=uint8 tensor (3, H, W) in RGB,
    data_samples=BaseDataElement)`` whose data sample has the field
    ``gt_label`` (int64 scalar tensor) and the metainfo ``img_path`` and
    ``ori_shape`` (H, W before the transforms).

    Args:
        data_root (str): Folder that contains the class folders.
        pipeline (Sequence[dict], optional): ``torchvision.transforms.v2``
            steps, see :func:`build_transforms`. Defaults to resize to 256
            (bicubic) and center crop 224.
        classes (Sequence[str], optional): Class names in label order, to fix
            the order or select a subset of folders. Defaults to all folders.
        extensions (Sequence[str]): File suffixes read as images.
            Defaults to ``IMG_EXTENSIONS``.
        max_refetch (int): Consecutive unreadable files tolerated before
            ``__getitem__`` raises. Defaults to 100.
        test_mode (bool): Accepted because mmengine's dataset configs set it.
            It changes nothing, because the pipeline decides the transforms.
            Defaults to False.
    """

    def __init__(self,
                 data_root: str,
                 pipeline: Optional[Sequence[dict]] = None,
                 classes: Optional[Sequence[str]] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 max_refetch: int = 100,
                 test_mode: bool = False) -> None:
        if max_refetch < 0:
            raise ValueError(f'max_refetch must be >= 0, got {max_refetch}')
        self.data_root = Path(data_root)
        self.test_mode = test_mode
        self.max_refetch = max_refetch
        class_names, paths, labels = scan_image_folder(self.data_root, classes, extensions)
        self._metainfo: Dict[str, Tuple[str, ...]] = dict(classes=class_names)
        # Fixed-width numpy arrays instead of lists of Python objects: dataloader
        # workers then read them without touching reference counts, so forked
        # workers share the pages instead of copying them.
        self._paths = np.array(paths)
        self._labels = np.array(labels, dtype=np.int64)
        self.transforms = build_transforms(DEFAULT_PIPELINE if pipeline is None else pipeline)
        self._unreadable: Set[int] = set()
        print_log(f'ImageFolderDataset {self.data_root}: {len(paths)} images, '
                  f'{len(class_names)} classes.', logger='current')

    @property
    def metainfo(self) -> dict:
        """Dataset meta information: ``classes``, the class names in label order."""
        return dict(self._metainfo)

    @property
    def classes(self) -> Tuple[str, ...]:
        """Class names in label order."""
        return self._metainfo['classes']

    def __len__(self) -> int:
        return len(self._paths)

    def get_label(self, index: int) -> int:
        """Return the label of item ``index`` without decoding its image."""
        return int(self._labels[index])

    def __getitem__(self, index: int) -> dict:
        for _ in range(self.max_refetch + 1):
            if index not in self._unreadable:
                item = self._load(index)
                if item is not None:
                    return item
            index = (index + 1) % len(self)
        raise RuntimeError(f'{self.max_refetch + 1} consecutive images of {self.data_root} '
                           'failed to decode; check the files or raise max_refetch.')

    def _load(self, index: int) -> Optional[dict]:
        # Imported here because the unlabeled module imports build_transforms from this one.
        from .unlabeled import DECODE_ERRORS, decode_image

        path = str(self._paths[index])
        try:
            image = decode_image(path)
        except DECODE_ERRORS as error:
            self._unreadable.add(index)
            print_log(f'Skipping unreadable image {path}: {error} '
                      f'({len(self._unreadable)} skipped so far in this process).',
                      logger='current', level=30)
            return None

        inputs = self.transforms(image)
        data_sample = BaseDataElement(metainfo=dict(img_path=path,
                                                    ori_shape=(image.height, image.width)))
        data_sample.gt_label = torch.tensor(self.get_label(index), dtype=torch.int64)
        return dict(inputs=inputs, data_samples=data_sample)
