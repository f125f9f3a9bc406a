"""Evaluation metrics for the classification models."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ..registry import METRICS


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent, from ``pred_score`` and ``gt_label`` of each sample.

    Reports ``accuracy/top{k}`` for every requested k up to the number of
    classes. A larger k would always score 100 %, so it is left out and
    logged once. With the default ``topk=(1, 5)`` a two-class task therefore
    reports top-1 only. Ties between scores are broken as ``torch.topk``
    breaks them.

    Args:
        topk (int | Sequence[int]): The k values. Defaults to (1, 5).
        collect_device (str): Device used to gather results across
            processes, ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to ``'accuracy'``.
    """

    default_prefix = 'accuracy'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not topk or any(not isinstance(k, int) or k < 1 for k in topk):
            raise ValueError(f'topk must be a positive int or a non-empty sequence of them, '
                             f'got {topk!r}')
        self.topk: Tuple[int, ...] = tuple(sorted(set(topk)))
        self._logged_skip = False

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Store the score vector and label of every predicted sample."""
        for sample in data_samples:
            score = _field(sample, 'pred_score')
            label = _field(sample, 'gt_label')
            self.results.append((score.detach().float().cpu(), int(label)))

    def compute_metrics(self, results: List[Tuple[torch.Tensor, int]]) -> dict:
        """Return ``{'top{k}': percent}`` for each k up to the number of classes."""
        scores = torch.stack([score for score, _ in results])
        labels = torch.tensor([label for _, label in results])
        num_classes = scores.shape[1]
        usable = [k for k in self.topk if k <= num_classes]
        skipped = [k for k in self.topk if k > num_classes]
        if skipped and not self._logged_skip:
            print_log(f'Accuracy: top-{skipped} not reported because there are only '
                      f'{num_classes} classes.', logger='current')
            self._logged_skip = True
        if not usable:
            raise ValueError(f'Accuracy topk={self.topk} has no k <= {num_classes}, '
                             'the number of classes; include k=1.')

        top_indices = scores.topk(max(usable), dim=1).indices
        hits = top_indices == labels.view(-1, 1)
        return {f'top{k}': hits[:, :k].any(dim=1).float().mean().item() * 100.0
                for k in usable}


def _field(sample, name: str):
    if isinstance(sample, dict):
        value = sample.get(name)
    else:
        value = getattr(sample, name, None)
    if value is None:
        raise KeyError(f'Accuracy needs {name!r} in every data sample; got a sample '
                       f'without it ({type(sample).__name__}).')
    return value
