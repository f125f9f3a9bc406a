"""Top-k classification of image files with a ConvNeXt V2 classifier checkpoint.

Used by ``tools/classify.py``. A checkpoint of any layout that
``load_pretrained`` reads works if it has a classification head: the arch
and ``num_classes`` come from the tensor shapes. Class names come from a
classes file, the ``dataset_meta`` of a Runner checkpoint, or the
``id2label`` of a Hugging Face ``config.json`` beside the weights, in this
order. Runner checkpoints also supply their validation transforms and
normalization. Other checkpoints get resize + center crop at 224 px with
ImageNet mean and std.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from .checkpoint import LoadReport, convert_to_canonical, load_pretrained, read_checkpoint
from .datasets.classification import IMG_EXTENSIONS, build_transforms
from .datasets.unlabeled import DECODE_ERRORS, decode_image
from .models import ConvNeXtV2Classifier
from .models.convnextv2 import ARCH_SETTINGS
from .models.image_classifier import IMAGENET_MEAN, IMAGENET_STD
from .runtime import runner_checkpoint_loading

# Resize to crop_size / CROP_RATIO, then center-crop: ImageNet evaluation's 224/256.
CROP_RATIO = 0.875
DEFAULT_CROP_SIZE = 224
BLOCK_KEY = re.compile(r'stages\.(\d+)\.(\d+)\.dwconv\.weight')


@dataclass
class LoadedClassifier:
    """A classifier ready for inference, with what is needed to feed it.

    Attributes:
        model (ConvNeXtV2Classifier): In eval mode, on the requested device.
        classes (list[str]): Class names in label order.
        transforms (Callable): PIL RGB image -> uint8 (3, H, W) tensor.
        mean (torch.Tensor): Per-channel mean on the 0..255 scale, (1, 3, 1, 1).
        std (torch.Tensor): Per-channel std on the 0..255 scale, (1, 3, 1, 1).
        arch (str | dict): Arch name, or depths and dims when no name matches.
        class_source (str): Where the class names came from.
    """

    model: ConvNeXtV2Classifier
    classes: List[str]
    transforms: Callable
    mean: torch.Tensor
    std: torch.Tensor
    arch: Union[str, dict]
    class_source: str


@dataclass
class ImageResult:
    """Outcome for one image: the top-k predictions, or the error that skipped it.

    Attributes:
        image (str): The path as given or found in a folder.
        predictions (list[tuple[str, int, float]]): (class name, class index,
            probability), highest probability first. Empty on error.
        error (str, optional): Why the image was skipped.
    """

    image: str
    predictions: List[Tuple[str, int, float]] = field(default_factory=list)
    error: Optional[str] = None

    def to_dict(self) -> dict:
        """Return the JSON form: ``image`` and either ``predictions`` or ``error``."""
        if self.error is not None:
            return dict(image=self.image, error=self.error)
        return dict(image=self.image,
                    predictions=[dict(label=name, index=index, score=score)
                                 for name, index, score in self.predictions])


def infer_arch(canonical: Dict[str, torch.Tensor]) -> Union[str, dict]:
    """Return the arch name (or a depths/dims dict) of package-named weights.

    Depths are counted from the block keys ``stages.{i}.{j}.dwconv.weight``
    and widths read from their first dimension.

    Raises:
        ValueError: if the weights do not hold four stages of blocks.
    """
    blocks: Dict[int, Dict[int, int]] = {}
    for key, value in canonical.items():
        match = BLOCK_KEY.fullmatch(key)
        if match:
            blocks.setdefault(int(match[1]), {})[int(match[2])] = value.shape[0]
    if sorted(blocks) != [0, 1, 2, 3]:
        raise ValueError(f'Cannot infer the arch: expected blocks in stages 0-3, found stages '
                         f'{sorted(blocks)}. Pass the arch explicitly.')
    depths = tuple(max(blocks[stage]) + 1 for stage in range(4))
    dims = tuple(blocks[stage][0] for stage in range(4))
    for name, setting in ARCH_SETTINGS.items():
        if tuple(setting['depths']) == depths and tuple(setting['dims']) == dims:
            return name
    return dict(depths=depths, dims=dims)


def read_classes_file(path: Union[str, Path]) -> List[str]:
    """Read class names, one per line in label order, ignoring blank lines.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it has no names.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'Classes file not found: {path}')
    names = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
    names = [name for name in names if name]
    if not names:
        raise ValueError(f'Classes file {path} has no class names. Write one name per line.')
    return names


def classes_from_hf_config(checkpoint_path: Path) -> Optional[List[str]]:
    """Return ``id2label`` of the ``config.json`` beside Hugging Face weights, if any."""
    folder = checkpoint_path if checkpoint_path.is_dir() else checkpoint_path.parent
    config_path = folder / 'config.json'
    if not config_path.is_file():
        return None
    try:
        id2label = json.loads(config_path.read_text(encoding='utf-8')).get('id2label')
    except (OSError, ValueError) as error:
        print_log(f'Ignoring {config_path}: {error}', logger='current', level=30)
        return None
    if not isinstance(id2label, dict) or not id2label:
        return None
    try:
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    except ValueError:
        return None


def _runner_config(checkpoint: dict) -> Optional[Config]:
    """Parse the config text that mmengine's Runner stores in ``meta['cfg']``."""
    meta = checkpoint.get('meta')
    text = meta.get('cfg') if isinstance(meta, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return Config.fromstring(text, '.py')
    except Exception as error:  # any parse or import error of a stored config
        print_log(f'Ignoring the config stored in the checkpoint, which does not parse: '
                  f'{error}', logger='current', level=30)
        return None


def _preprocessing(cfg: Optional[Config], crop_size: Optional[int]
                   ) -> Tuple[Callable, Sequence[float], Sequence[float]]:
    """Return (transforms, mean, std) from a Runner config or the defaults."""
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    pipeline = None
    if cfg is not None:
        preprocessor = cfg.get('model', {}).get('data_preprocessor') or {}
        mean = preprocessor.get('mean', mean)
        std = preprocessor.get('std', std)
        for loader_key in ('test_dataloader', 'val_dataloader'):
            dataset = (cfg.get(loader_key) or {}).get('dataset') or {}
            if dataset.get('pipeline'):
                pipeline = list(dataset['pipeline'])
                break
    if crop_size is not None or pipeline is None:
        size = crop_size or DEFAULT_CROP_SIZE
        pipeline = [
            dict(type='Resize', size=round(size / CROP_RATIO), interpolation='bicubic',
                 antialias=True),
            dict(type='CenterCrop', size=size),
        ]
    return build_transforms(pipeline), mean, std


def _class_names(checkpoint: dict, checkpoint_path: Path, classes_file: Optional[str],
                 num_classes: int) -> Tuple[List[str], str]:
    if classes_file is not None:
        names, source = read_classes_file(classes_file), f'classes file {classes_file}'
    else:
        meta = checkpoint.get('meta')
        dataset_meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
        stored = dataset_meta.get('classes') if isinstance(dataset_meta, dict) else None
        hf_names = None if stored else classes_from_hf_config(checkpoint_path)
        if stored:
            names, source = [str(name) for name in stored], 'checkpoint meta'
        elif hf_names:
            names, source = hf_names, 'config.json id2label'
        else:
            print_log(f'{checkpoint_path} stores no class names, so class indices are '
                      'printed. Pass a classes file (one name per line) to get names.',
                      logger='current', level=30)
            return [f'class_{index}' for index in range(num_classes)], 'class indices'
    if len(names) != num_classes:
        raise ValueError(f'{len(names)} class names from the {source}, but the checkpoint '
                         f'head has {num_classes} classes.')
    return names, source


def load_classifier(checkpoint_path: Union[str, Path],
                    classes_file: Optional[str] = None,
                    arch: Optional[Union[str, dict]] = None,
                    crop_size: Optional[int] = None,
                    device: Union[str, torch.device] = 'cpu') -> LoadedClassifier:
    """Build a ``ConvNeXtV2Classifier`` from a checkpoint with a classification head.

    Args:
        checkpoint_path (str | Path): Any file or Hugging Face folder that
            ``load_pretrained`` reads.
        classes_file (str, optional): Class names, one per line. They
            override the names stored with the checkpoint.
        arch (str | dict, optional): Overrides the arch inferred from shapes.
        crop_size (int, optional): Center-crop size after resizing to
            ``crop_size / 0.875``. Overrides the transforms of a Runner config.
        device (str | torch.device): Where the model runs. Defaults to CPU.

    Raises:
        FileNotFoundError: if the checkpoint or the classes file is missing.
        ValueError: if the checkpoint has no classification head, its layout
            is unknown, the arch does not fit, or the number of class names
            differs from the head.
    """
    checkpoint_path = Path(checkpoint_path)
    # Runner checkpoints also pickle mmengine and NumPy objects (message hub).
    with runner_checkpoint_loading():
        checkpoint = read_checkpoint(checkpoint_path)

    canonical = convert_to_canonical(checkpoint, LoadReport(source=str(checkpoint_path)))
    if 'head.weight' not in canonical:
        raise ValueError(f'{checkpoint_path} has no classification head (e.g. FCMAE '
                         'pretraining or backbone weights). Fine-tune it with a classifier '
                         'config first.')
    num_classes, in_features = canonical['head.weight'].shape
    if arch is None:
        arch = infer_arch(canonical)
    in_channels = canonical['downsample_layers.0.0.weight'].shape[1]

    model = ConvNeXtV2Classifier(arch=arch, num_classes=int(num_classes),
                                 in_channels=int(in_channels))
    print_log(f'Loading {checkpoint_path} as ConvNeXtV2Classifier(arch={arch!r}, '
              f'num_classes={num_classes}).', logger='current')
    load_pretrained(model, checkpoint, strict=True)
    model.eval().to(device)

    classes, class_source = _class_names(checkpoint, checkpoint_path, classes_file,
                                         int(num_classes))
    transforms, mean, std = _preprocessing(_runner_config(checkpoint), crop_size)
    return LoadedClassifier(
        model=model, classes=classes, transforms=transforms,
        mean=torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1),
        std=torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1),
        arch=arch, class_source=class_source)


def collect_images(inputs: Sequence[Union[str, Path]]) -> List[ImageResult]:
    """Expand files and folders into one pending result per image, in input order.

    A file is taken whatever its suffix, because decoding decides. A folder
    is searched recursively for files with the suffixes of
    ``IMG_EXTENSIONS``, in sorted order. An input that does not exist and a
    folder without images become results that already carry their error.
    """
    entries: List[ImageResult] = []
    suffixes = tuple(IMG_EXTENSIONS)
    for item in inputs:
        item_path = Path(item)
        if item_path.is_file():
            entries.append(ImageResult(str(item)))
        elif item_path.is_dir():
            found = sorted(str(path) for path in item_path.rglob('*')
                           if path.is_file() and path.suffix.lower() in suffixes)
            if not found:
                entries.append(ImageResult(str(item), error=f'no files with suffixes '
                                           f'{list(suffixes)} in this folder'))
            entries.extend(ImageResult(path) for path in found)
        else:
            entries.append(ImageResult(str(item), error='no such file or folder'))
    return entries


def classify_images(loaded: LoadedClassifier, images: Sequence[Union[str, ImageResult]],
                    topk: int = 5, batch_size: int = 32) -> Iterator[ImageResult]:
    """Yield one result per image, in order, classifying ``batch_size`` images at a time.

    ``images`` are paths or the pending results of :func:`collect_images`.
    Results that already carry an error and files that fail to decode are
    yielded with their error and take no place in a batch. ``topk`` is
    capped at the number of classes.

    Raises:
        ValueError: if ``topk`` or ``batch_size`` is below 1.
    """
    if topk < 1 or batch_size < 1:
        raise ValueError(f'topk and batch_size must be >= 1, got {topk} and {batch_size}')
    topk = min(topk, len(loaded.classes))
    batch_inputs: List[torch.Tensor] = []
    pending: List[ImageResult] = []

    for entry in images:
        # A new result per image, so the caller's entries stay unchanged.
        if isinstance(entry, str):
            result = ImageResult(entry)
        else:
            result = ImageResult(entry.image, error=entry.error)
        pending.append(result)
        if result.error is not None:
            continue
        try:
            image = decode_image(result.image)
        except DECODE_ERRORS as error:
            result.error = f'cannot decode image: {error}'
            continue
        batch_inputs.append(loaded.transforms(image))
        if len(batch_inputs) == batch_size:
            yield from _finish_batch(loaded, batch_inputs, pending, topk)
            batch_inputs, pending = [], []
    yield from _finish_batch(loaded, batch_inputs, pending, topk)


def _finish_batch(loaded: LoadedClassifier, batch_inputs: List[torch.Tensor],
                  pending: List[ImageResult], topk: int) -> Iterator[ImageResult]:
    """Classify the decoded images and yield all pending results in input order."""
    if batch_inputs:
        scores = predict_scores(loaded, torch.stack(batch_inputs))
        top_scores, top_indices = scores.topk(topk, dim=1)
        rows = iter(zip(top_scores.tolist(), top_indices.tolist()))
        for result in pending:
            if result.error is None:
                row_scores, row_indices = next(rows)
                result.predictions = [(loaded.classes[index], index, score)
                                      for score, index in zip(row_scores, row_indices)]
    yield from pending


@torch.inference_mode()
def predict_scores(loaded: LoadedClassifier, images: torch.Tensor) -> torch.Tensor:
    """Map uint8 images (N, 3, H, W) to class probabilities (N, num_classes) on the CPU."""
    device = loaded.mean.device
    inputs = (images.to(device).float() - loaded.mean) / loaded.std
    return loaded.model(inputs).float().softmax(dim=1).cpu()


def format_result(result: ImageResult) -> str:
    """Return the printed line ``IMAGE: name 0.873, name 0.127`` or ``IMAGE: error: ...``."""
    if result.error is not None:
        return f'{result.image}: error: {result.error}'
    predictions = ', '.join(f'{name} {score:.3f}' for name, _, score in result.predictions)
    return f'{result.image}: {predictions}'
