"""mmengine model wrapping ``ConvNeXtV2Classifier`` for training, evaluation and prediction."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from ..registry import MODELS

# ImageNet channel statistics in RGB order, on the 0..255 scale of uint8 images.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def smoothed_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """Map int labels (N,) to targets (N, num_classes) with label smoothing.

    The true class gets ``1 - smoothing + smoothing / num_classes`` and every
    other class ``smoothing / num_classes``, as in
    ``F.cross_entropy(..., label_smoothing=smoothing)``.
    """
    off_value = smoothing / num_classes
    targets = torch.full((labels.shape[0], num_classes), off_value, device=labels.device)
    targets.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off_value)
    return targets


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Return the mean over the batch of ``-sum(targets * log_softmax(logits))``."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    return -(targets * log_probs).sum(dim=-1).mean()


class MixupCutmix:
    """Mixup or CutMix on a whole batch, mixing each sample with its mirror in the batch.

    Sample i is mixed with sample N-1-i (the batch reversed) using one
    ratio ``lam ~ Beta(alpha, alpha)`` for the batch, and the soft targets
    are mixed with the same ratio. Mixup blends the images:
    ``lam * x + (1 - lam) * x_reversed``. CutMix pastes a box of the
    reversed batch whose area is about ``1 - lam`` of the image, clipped at
    the border. ``lam`` is then recomputed from the clipped box so that the
    targets match the pixels.

    Args:
        mixup_alpha (float): Beta parameter of Mixup; 0 disables Mixup.
            Defaults to 0.8.
        cutmix_alpha (float): Beta parameter of CutMix; 0 disables CutMix.
            Defaults to 1.0.
        prob (float): Probability of mixing a batch at all. Defaults to 1.
        switch_prob (float): Probability of CutMix instead of Mixup when
            both are enabled. Defaults to 0.5.
    """

    def __init__(self,
                 mixup_alpha: float = 0.8,
                 cutmix_alpha: float = 1.0,
                 prob: float = 1.0,
                 switch_prob: float = 0.5) -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(f'mixup_alpha and cutmix_alpha must be >= 0, got '
                             f'{mixup_alpha} and {cutmix_alpha}')
        if mixup_alpha == 0 and cutmix_alpha == 0:
            raise ValueError('MixupCutmix needs mixup_alpha > 0 or cutmix_alpha > 0; '
                             'set batch_augment=None to train without mixing.')
        for name, value in (('prob', prob), ('switch_prob', switch_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.prob = prob
        self.switch_prob = switch_prob

    def __call__(self, inputs: torch.Tensor,
                 targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mix images (N, C, H, W) and soft targets (N, K); returns new tensors."""
        if torch.rand(()).item() >= self.prob:
            return inputs, targets

        use_cutmix = self.cutmix_alpha > 0 and (
            self.mixup_alpha == 0 or torch.rand(()).item() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(torch.distributions.Beta(alpha, alpha).sample())

        if use_cutmix:
            inputs, lam = self._paste_box(inputs, lam)
        else:
            inputs = lam * inputs + (1.0 - lam) * inputs.flip(0)
        targets = lam * targets + (1.0 - lam) * targets.flip(0)
        return inputs, targets

    @staticmethod
    def _paste_box(inputs: torch.Tensor, lam: float) -> Tuple[torch.Tensor, float]:
        height, width = inputs.shape[-2:]
        cut_ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = int(height * cut_ratio), int(width * cut_ratio)
        center_y = int(torch.randint(height, ()).item())
        center_x = int(torch.randint(width, ()).item())
        top, bottom = max(center_y - cut_h // 2, 0), min(center_y + cut_h // 2, height)
        left, right = max(center_x - cut_w // 2, 0), min(center_x + cut_w // 2, width)

        mixed = inputs.clone()
        mixed[..., top:bottom, left:right] = inputs.flip(0)[..., top:bottom, left:right]
        box_area = (bottom - top) * (right - left)
        return mixed, 1.0 - box_area / float(height * width)


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """ConvNeXt V2 image classifier for mmengine's Runner.

    Holds a ``ConvNeXtV2Classifier`` as ``classifier``, so its state-dict
    keys are ``classifier.`` followed by the official key names. Training
    uses soft-target cross entropy on label-smoothed targets, mixed by
    Mixup/CutMix when ``batch_augment`` is set.

    Data samples are ``BaseDataElement`` objects. Training and evaluation
    read their ``gt_label`` (int64 scalar tensor). Prediction adds
    ``pred_score`` (softmax probabilities, shape (num_classes,)) and
    ``pred_label`` (int64 scalar tensor).

    Args:
        classifier (dict): Config of the classifier; ``type`` defaults to
            ``'cnx2_backbone.ConvNeXtV2Classifier'``. A
            ``dict(type='Pretrained', checkpoint=PATH)`` ``init_cfg`` inside it
            loads any checkpoint layout that ``load_pretrained`` detects.
        data_preprocessor (dict, optional): mmengine data preprocessor config.
            Defaults to ``ImgDataPreprocessor`` with ImageNet mean and std on
            RGB uint8 images.
        label_smoothing (float): Label smoothing of the training targets, in
            [0, 1). Defaults to 0.1.
        batch_augment (dict, optional): Arguments of :class:`MixupCutmix`
            (``mixup_alpha``, ``cutmix_alpha``, ``prob``, ``switch_prob``);
            None trains without mixing. Defaults to None.
        init_cfg (dict | list[dict], optional): mmengine initialization config.
    """

    def __init__(self,
                 classifier: dict,
                 data_preprocessor: Optional[dict] = None,
                 label_smoothing: float = 0.1,
                 batch_augment: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor', mean=IMAGENET_MEAN,
                                     std=IMAGENET_STD, bgr_to_rgb=False)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f'label_smoothing must be in [0, 1), got {label_smoothing}')

        classifier = dict(classifier)
        classifier.setdefault('type', 'cnx2_backbone.ConvNeXtV2Classifier')
        self.classifier = MODELS.build(classifier)
        self.num_classes: int = self.classifier.num_classes
        self.label_smoothing = label_smoothing
        self.batch_augment = MixupCutmix(**batch_augment) if batch_augment else None

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List[BaseDataElement],
                                               torch.Tensor]:
        """Run on normalized images (N, 3, H, W) in one of three modes.

        * ``'loss'`` returns ``dict(loss=...)`` and needs ``data_samples``
          with ``gt_label``.
        * ``'predict'`` returns the data samples, or new ones when None are
          given, with ``pred_score`` and ``pred_label`` set.
        * ``'tensor'`` returns the logits (N, num_classes).
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.classifier(inputs)
        raise ValueError(f"Invalid mode {mode!r}; expected 'loss', 'predict' or 'tensor'.")

    def loss(self, inputs: torch.Tensor,
             data_samples: Sequence[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """Return ``dict(loss=...)``: soft-target cross entropy over the batch."""
        if not data_samples:
            raise ValueError("mode='loss' needs data samples with gt_label.")
        labels = torch.stack([sample.gt_label for sample in data_samples]).to(inputs.device)
        targets = smoothed_one_hot(labels.view(-1), self.num_classes, self.label_smoothing)
        if self.batch_augment is not None:
            inputs, targets = self.batch_augment(inputs, targets)

        logits = self.classifier(inputs)
        return dict(loss=soft_target_cross_entropy(logits, targets))

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[Sequence[BaseDataElement]] = None
                ) -> List[BaseDataElement]:
        """Return one data sample per image with ``pred_score`` and ``pred_label``."""
        scores = F.softmax(self.classifier(inputs).float(), dim=-1)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(scores.shape[0])]
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score
            sample.pred_label = score.argmax()
        return list(data_samples)
