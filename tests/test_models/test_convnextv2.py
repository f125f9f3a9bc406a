import copy

import pytest
import torch

from cnx2_backbone import ConvNeXtV2, ConvNeXtV2Classifier
from cnx2_backbone.models import ARCH_SETTINGS

TINY_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_arch_table_channels(arch):
    # The meta device builds the structure without allocating huge weights.
    with torch.device('meta'):
        model = ConvNeXtV2(arch=arch)
    dims = ARCH_SETTINGS[arch]['dims']
    depths = ARCH_SETTINGS[arch]['depths']
    assert [len(stage) for stage in model.stages] == list(depths)
    assert [stage[0].dwconv.in_channels for stage in model.stages] == list(dims)


@pytest.mark.parametrize('arch', ['atto', 'femto', 'pico', 'nano'])
def test_small_archs_forward(arch):
    model = ConvNeXtV2(arch=arch).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 64, 64))
    dims = ARCH_SETTINGS[arch]['dims']
    assert [o.shape[1] for o in outputs] == list(dims)


@pytest.mark.parametrize('out_indices, expected', [
    ((0, 1, 2, 3), (0, 1, 2, 3)),
    ((3,), (3,)),
    ((1, 2), (1, 2)),
    (2, (2,)),
    ((-1,), (3,)),
    ((-4, -2), (0, 2)),
    ((3, 0), (0, 3)),
])
def test_out_indices_shapes(out_indices, expected):
    model = ConvNeXtV2(arch=TINY_ARCH, out_indices=out_indices).eval()
    assert model.out_indices == expected
    outputs = model(torch.randn(2, 3, 64, 96))
    assert len(outputs) == len(expected)
    for output, index in zip(outputs, expected):
        stride = 2 ** (index + 2)
        assert output.shape == (2, TINY_ARCH['dims'][index], 64 // stride, 96 // stride)


@pytest.mark.parametrize('bad', [(4,), (-5,), (), (0, 0), (1.0,), 'all'])
def test_out_indices_invalid(bad):
    with pytest.raises(ValueError, match='out_indices'):
        ConvNeXtV2(arch=TINY_ARCH, out_indices=bad)


@pytest.mark.parametrize('size', [(33, 45), (100, 75), (225, 224), (32, 32), (97, 161)])
def test_odd_and_non_square_sizes(size):
    height, width = size
    model = ConvNeXtV2(arch=TINY_ARCH).eval()
    outputs = model(torch.randn(1, 3, height, width))
    expected_sizes = []
    h, w = height // 4, width // 4
    for _ in range(4):
        expected_sizes.append((h, w))
        h, w = h // 2, w // 2
    assert [tuple(o.shape[2:]) for o in outputs] == expected_sizes


def test_input_too_small_raises():
    model = ConvNeXtV2(arch=TINY_ARCH)
    with pytest.raises(ValueError, match='at least 32'):
        model(torch.randn(1, 3, 31, 64))


def test_wrong_channels_raises():
    model = ConvNeXtV2(arch=TINY_ARCH)
    with pytest.raises(ValueError, match='in_channels=1'):
        model(torch.randn(1, 1, 64, 64))


def test_in_channels_custom():
    model = ConvNeXtV2(arch=TINY_ARCH, in_channels=5).eval()
    outputs = model(torch.randn(1, 5, 64, 64))
    assert outputs[0].shape == (1, 8, 16, 16)


@pytest.mark.parametrize('arch', ['tinyy', dict(depths=(1, 1, 1)), dict(depths=(1, 1, 1), dims=(1, 2, 3)), 3])
def test_invalid_arch_raises(arch):
    with pytest.raises((ValueError, TypeError), match='arch'):
        ConvNeXtV2(arch=arch)


def test_channels_last_same_values():
    model = ConvNeXtV2(arch=TINY_ARCH).eval()
    plain = copy.deepcopy(model)
    plain.channels_last = False
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(model(x), plain(x)):
        torch.testing.assert_close(a, b)


def frozen_parts(model, frozen_stages):
    parts = [model.downsample_layers[0]] if frozen_stages >= 0 else []
    for i in range(max(frozen_stages, 0)):
        if i > 0:
            parts.append(model.downsample_layers[i])
        parts.append(model.stages[i])
        parts.append(getattr(model, f'norm{i}'))
    return parts


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 4])
def test_frozen_stages(frozen_stages):
    model = ConvNeXtV2(arch=TINY_ARCH, frozen_stages=frozen_stages)
    model.train()
    frozen = frozen_parts(model, frozen_stages)
    frozen_ids = {id(p) for part in frozen for p in part.parameters()}
    for part in frozen:
        for module in part.modules():
            assert not module.training
    for name, param in model.named_parameters():
        assert param.requires_grad == (id(param) not in frozen_ids), name
    trainable_modules = [m for m in model.modules()
                         if not any(m is f or any(m is s for s in f.modules()) for f in frozen)]
    for module in trainable_modules:
        assert module.training


def test_frozen_stages_stay_eval_after_train():
    model = ConvNeXtV2(arch=TINY_ARCH, frozen_stages=2, drop_path_rate=0.5)
    model.eval()
    model.train()
    assert not model.stages[1].training
    assert model.stages[2].training
    assert not model.stages[0][0].drop_path.training


@pytest.mark.parametrize('frozen_stages', [-2, 5, 1.5])
def test_frozen_stages_invalid(frozen_stages):
    with pytest.raises(ValueError, match='frozen_stages'):
        ConvNeXtV2(arch=TINY_ARCH, frozen_stages=frozen_stages)


def test_frozen_stages_gets_no_gradient():
    model = ConvNeXtV2(arch=TINY_ARCH, frozen_stages=1).train()
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    assert model.stages[0][0].dwconv.weight.grad is None
    assert model.stages[1][0].dwconv.weight.grad is not None


def test_every_parameter_gets_gradient():
    model = ConvNeXtV2(arch=TINY_ARCH).train()
    # GRN gamma starts at 0, which blocks gradients to nothing but leaves
    # them exactly zero for some paths; random values make the check strict.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'grn' in name:
                param.normal_(std=0.1)
    outputs = model(torch.randn(2, 3, 64, 64))
    sum(o.square().mean() for o in outputs).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    model = ConvNeXtV2(arch=TINY_ARCH, drop_path_rate=0.3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'grn' in name:
                param.normal_(std=0.1)
    model_cp = copy.deepcopy(model)
    model_cp.with_cp = True
    model.train()
    model_cp.train()
    x = torch.randn(2, 3, 64, 64)
    x_cp = x.clone()
    x.requires_grad_(True)
    x_cp.requires_grad_(True)

    torch.manual_seed(1)
    outputs = model(x)
    torch.manual_seed(1)
    outputs_cp = model_cp(x_cp)
    for a, b in zip(outputs, outputs_cp):
        torch.testing.assert_close(a, b)

    sum(o.square().mean() for o in outputs).backward()
    sum(o.square().mean() for o in outputs_cp).backward()
    grads = dict(model.named_parameters())
    for name, param in model_cp.named_parameters():
        assert param.grad is not None, name
        torch.testing.assert_close(param.grad, grads[name].grad, msg=name)
    torch.testing.assert_close(x.grad, x_cp.grad)


def test_drop_path_eval_deterministic():
    model = ConvNeXtV2(arch=TINY_ARCH, drop_path_rate=0.5).eval()
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(model(x), model(x)):
        assert torch.equal(a, b)


def test_drop_path_train_random():
    model = ConvNeXtV2(arch=TINY_ARCH, drop_path_rate=0.5).train()
    x = torch.randn(4, 3, 64, 64)
    first = model(x)[-1]
    second = model(x)[-1]
    assert not torch.equal(first, second)


def test_drop_path_rates_linear():
    model = ConvNeXtV2(arch=TINY_ARCH, drop_path_rate=0.4)
    rates = [0.0 if not hasattr(b.drop_path, 'drop_prob') else b.drop_path.drop_prob
             for stage in model.stages for b in stage]
    expected = torch.linspace(0, 0.4, 5).tolist()
    assert rates == pytest.approx(expected)


def large_activation_model():
    model = ConvNeXtV2(arch=TINY_ARCH).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'grn' in name:
                param.normal_(std=1.0)
    return model


def test_autocast_bfloat16_finite():
    model = large_activation_model()
    x = torch.randn(2, 3, 64, 64) * 500
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outputs = model(x)
    for output in outputs:
        assert torch.isfinite(output.float()).all()


def test_float16_large_activations_finite():
    # CPU autocast supports float16 since torch 2.1; half weights exercise
    # the same float16 arithmetic on every CPU torch build.
    model = large_activation_model()
    x = torch.randn(1, 3, 64, 64) * 500
    with torch.autocast('cpu', dtype=torch.float16):
        outputs = model(x)
    for output in outputs:
        assert torch.isfinite(output.float()).all()


def test_classifier_logits_shape():
    model = ConvNeXtV2Classifier(arch=TINY_ARCH, num_classes=7).eval()
    logits = model(torch.randn(3, 3, 64, 80))
    assert logits.shape == (3, 7)


def test_classifier_head_init_scale():
    torch.manual_seed(0)
    base = ConvNeXtV2Classifier(arch=TINY_ARCH, num_classes=5)
    torch.manual_seed(0)
    scaled = ConvNeXtV2Classifier(arch=TINY_ARCH, num_classes=5, head_init_scale=0.001)
    torch.testing.assert_close(scaled.head.weight, base.head.weight * 0.001)


def test_classifier_official_key_names():
    keys = set(ConvNeXtV2Classifier(arch='atto', num_classes=10).state_dict())
    for key in ['downsample_layers.0.0.weight', 'downsample_layers.0.1.weight',
                'downsample_layers.1.0.weight', 'downsample_layers.1.1.weight',
                'stages.0.0.dwconv.weight', 'stages.0.0.norm.weight',
                'stages.0.0.pwconv1.weight', 'stages.0.0.grn.gamma', 'stages.0.0.grn.beta',
                'stages.0.0.pwconv2.weight', 'norm.weight', 'head.weight', 'head.bias']:
        assert key in keys, key


def test_classifier_rejects_bad_num_classes():
    with pytest.raises(ValueError, match='num_classes'):
        ConvNeXtV2Classifier(arch=TINY_ARCH, num_classes=0)
