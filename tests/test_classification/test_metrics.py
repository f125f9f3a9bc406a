"""Top-k Accuracy metric, fed the way mmengine's Evaluator feeds it."""
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from cnx2_backbone.engine.metrics import Accuracy


def prediction(scores, label):
    sample = BaseDataElement()
    sample.pred_score = torch.tensor(scores, dtype=torch.float32)
    sample.gt_label = torch.tensor(label)
    return sample


def evaluate(metric, samples):
    evaluator = Evaluator(metric)
    evaluator.process(data_samples=samples, data_batch=None)
    return evaluator.evaluate(len(samples))


def test_two_classes_report_top1_only():
    samples = [prediction([0.9, 0.1], 0), prediction([0.3, 0.7], 0),
               prediction([0.2, 0.8], 1), prediction([0.6, 0.4], 1)]
    metrics = evaluate(Accuracy(topk=(1, 5)), samples)
    assert metrics == {'accuracy/top1': pytest.approx(50.0)}


def test_top5_with_ten_classes():
    scores = torch.arange(10, dtype=torch.float32).tolist()  # class 9 ranks first
    samples = [prediction(scores, 9), prediction(scores, 5), prediction(scores, 0)]
    metrics = evaluate(Accuracy(topk=(1, 5)), samples)
    assert metrics['accuracy/top1'] == pytest.approx(100 / 3)
    assert metrics['accuracy/top5'] == pytest.approx(200 / 3)


def test_int_topk_and_prefix():
    metrics = evaluate(Accuracy(topk=1, prefix='val'), [prediction([0.2, 0.8], 1)])
    assert metrics == {'val/top1': pytest.approx(100.0)}


def test_no_usable_k_raises():
    with pytest.raises(ValueError, match='include k=1'):
        evaluate(Accuracy(topk=(5,)), [prediction([0.2, 0.8], 1)])


def test_missing_score_raises():
    sample = BaseDataElement()
    sample.gt_label = torch.tensor(0)
    with pytest.raises(KeyError, match='pred_score'):
        evaluate(Accuracy(), [sample])


def test_invalid_topk_raises():
    with pytest.raises(ValueError, match='topk'):
        Accuracy(topk=(0, 1))
