"""ImageClassifier modes, its loss and the Mixup/CutMix batch augmentation."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from cnx2_backbone.models.image_classifier import (ImageClassifier, MixupCutmix,
                                                   smoothed_one_hot, soft_target_cross_entropy)

ATTO = dict(arch='atto', num_classes=3, drop_path_rate=0.1, head_init_scale=0.001)


def make_samples(labels):
    samples = []
    for label in labels:
        sample = BaseDataElement()
        sample.gt_label = torch.tensor(label)
        samples.append(sample)
    return samples


def test_state_dict_uses_official_keys_under_classifier():
    model = ImageClassifier(classifier=ATTO)
    keys = set(model.state_dict())
    assert 'classifier.head.weight' in keys
    assert 'classifier.norm.weight' in keys
    assert 'classifier.stages.0.0.dwconv.weight' in keys
    assert 'classifier.stages.0.0.grn.gamma' in keys
    assert all(key.startswith('classifier.') for key in keys)


def test_head_init_scale_is_applied():
    model = ImageClassifier(classifier=ATTO)
    assert model.classifier.head.weight.abs().max() < 0.002


def test_loss_mode_backward_reaches_every_parameter():
    model = ImageClassifier(classifier=ATTO,
                            batch_augment=dict(mixup_alpha=0.8, cutmix_alpha=1.0))
    model.train()
    losses = model(torch.randn(4, 3, 64, 48), make_samples([0, 1, 2, 1]), mode='loss')
    assert set(losses) == {'loss'}
    assert losses['loss'].ndim == 0
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    without_grad = [name for name, p in model.named_parameters() if p.grad is None]
    assert without_grad == []


def test_predict_mode_returns_probabilities():
    model = ImageClassifier(classifier=ATTO).eval()
    samples = make_samples([0, 2])
    with torch.no_grad():
        results = model(torch.randn(2, 3, 64, 64), samples, mode='predict')
    assert len(results) == 2
    assert results[0] is samples[0]
    assert tuple(results[0].pred_score.shape) == (3,)
    assert torch.allclose(results[0].pred_score.sum(), torch.tensor(1.0))
    assert int(results[1].pred_label) == int(results[1].pred_score.argmax())


def test_predict_without_samples_creates_them():
    model = ImageClassifier(classifier=ATTO).eval()
    with torch.no_grad():
        results = model(torch.randn(3, 3, 64, 64), mode='predict')
    assert len(results) == 3
    assert 'pred_score' in results[2]


def test_tensor_mode_returns_logits():
    model = ImageClassifier(classifier=ATTO).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert tuple(logits.shape) == (2, 3)


def test_invalid_mode_raises():
    model = ImageClassifier(classifier=ATTO)
    with pytest.raises(ValueError, match="'loss', 'predict' or 'tensor'"):
        model(torch.randn(1, 3, 64, 64), mode='features')


def test_invalid_label_smoothing_raises():
    with pytest.raises(ValueError, match='label_smoothing'):
        ImageClassifier(classifier=ATTO, label_smoothing=1.0)


def test_data_preprocessor_normalizes_uint8_rgb():
    model = ImageClassifier(classifier=ATTO)
    image = torch.full((3, 64, 64), 128, dtype=torch.uint8)
    batch = model.data_preprocessor(dict(inputs=[image], data_samples=make_samples([1])))
    expected = (128 - 123.675) / 58.395
    assert batch['inputs'].dtype == torch.float32
    assert torch.allclose(batch['inputs'][0, 0], torch.full((64, 64), expected))


def test_smoothed_targets_match_torch_label_smoothing():
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 3, 1, 1, 2])
    targets = smoothed_one_hot(labels, 4, 0.1)
    ours = soft_target_cross_entropy(logits, targets)
    reference = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_smoothed_targets_match_timm():
    timm_mixup = pytest.importorskip('timm.data.mixup')
    labels = torch.tensor([0, 3, 1])
    reference = timm_mixup.one_hot(labels, 4, on_value=1 - 0.2 + 0.2 / 4, off_value=0.2 / 4)
    assert torch.allclose(smoothed_one_hot(labels, 4, 0.2), reference)


def test_mixup_blends_images_and_targets_with_one_ratio():
    mixer = MixupCutmix(mixup_alpha=0.8, cutmix_alpha=0.0)
    inputs = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    targets = torch.eye(2)
    mixed, mixed_targets = mixer(inputs, targets)
    lam = 1.0 - float(mixed[0, 0, 0, 0])
    assert torch.allclose(mixed[0], torch.full((3, 8, 8), 1.0 - lam))
    assert torch.allclose(mixed_targets[0], torch.tensor([lam, 1.0 - lam]))
    assert torch.allclose(mixed_targets.sum(dim=1), torch.ones(2))


def test_cutmix_targets_match_pasted_area():
    mixer = MixupCutmix(mixup_alpha=0.0, cutmix_alpha=1.0)
    for seed in range(10):
        torch.manual_seed(seed)
        inputs = torch.stack([torch.zeros(3, 20, 30), torch.ones(3, 20, 30)])
        mixed, mixed_targets = mixer(inputs, torch.eye(2))
        pasted_fraction = float(mixed[0, 0].mean())
        assert mixed_targets[0, 1].item() == pytest.approx(pasted_fraction), seed
        assert mixed_targets[1, 0].item() == pytest.approx(pasted_fraction), seed


def test_mixing_leaves_inputs_unchanged():
    mixer = MixupCutmix(mixup_alpha=0.0, cutmix_alpha=1.0)
    inputs = torch.stack([torch.zeros(3, 16, 16), torch.ones(3, 16, 16)])
    original = inputs.clone()
    mixer(inputs, torch.eye(2))
    assert torch.equal(inputs, original)


def test_prob_zero_disables_mixing():
    mixer = MixupCutmix(prob=0.0)
    inputs = torch.randn(2, 3, 8, 8)
    targets = torch.eye(2)
    mixed, mixed_targets = mixer(inputs, targets)
    assert mixed is inputs
    assert mixed_targets is targets


def test_both_alphas_zero_raise():
    with pytest.raises(ValueError, match='batch_augment=None'):
        MixupCutmix(mixup_alpha=0.0, cutmix_alpha=0.0)
