"""Layer-wise lr decay: every parameter's lr and weight decay on small models."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.optim.scheduler import LinearLR
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

import cnx2_backbone.engine  # noqa: F401  (registers the constructor)
from cnx2_backbone.models import ConvNeXtV2

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_LR = 1e-3
BASE_WD = 0.05
DECAY = 0.5
# Blocks per stage 1, 1, 2, 1: layer ids 0 (stem) to 5 (last block), 6 for neck and head.
SMALL_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))
LAST_LAYER = 6

# Expected layer id of every backbone parameter, by name prefix, written out
# by hand so that the test does not reuse the constructor's own arithmetic.
BACKBONE_LAYERS = {
    'downsample_layers.0.': 0,
    'stages.0.0.': 1,
    'norm0.': 1,
    'downsample_layers.1.': 1,
    'stages.1.0.': 2,
    'norm1.': 2,
    'downsample_layers.2.': 2,
    'stages.2.0.': 3,
    'stages.2.1.': 4,
    'norm2.': 4,
    'downsample_layers.3.': 4,
    'stages.3.0.': 5,
    'norm3.': 5,
}

# Parameters that must get weight_decay=0: biases, every norm (LayerNorm2d in
# the stem and the downsampling layers, the blocks' LayerNorm, the output
# norms, BatchNorm and a 2-D LayerNorm in the neck and head) and GRN.
NO_DECAY_PATTERNS = [
    r'\.bias$',
    r'\.grn\.(gamma|beta)$',
    r'^backbone\.downsample_layers\.0\.1\.weight$',
    r'^backbone\.downsample_layers\.[123]\.0\.weight$',
    r'^backbone\.stages\.\d+\.\d+\.norm\.weight$',
    r'^backbone\.norm\d\.weight$',
    r'^neck\.bn\.weight$',
    r'^head\.norm\.weight$',
]


class SmallNeck(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(32, 16, kernel_size=1)
        self.bn = nn.BatchNorm2d(16)


class SmallHead(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        # A 2-D norm weight: no decay even though it is not 1-D.
        self.norm = nn.LayerNorm((2, 8))
        self.fc = nn.Linear(16, 3)
        # A 1-D parameter that is neither a bias nor a norm: it is decayed.
        self.scale = nn.Parameter(torch.ones(3))


class SmallDetector(nn.Module):

    def __init__(self, frozen_stages: int = -1) -> None:
        super().__init__()
        self.backbone = ConvNeXtV2(arch=SMALL_ARCH, frozen_stages=frozen_stages)
        self.neck = SmallNeck()
        self.head = SmallHead()


def build_optim_wrapper(model, decay_rate=DECAY, optimizer=None):
    optimizer = optimizer or dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='cnx2_backbone.LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(type='OptimWrapper', optimizer=optimizer),
        paramwise_cfg=dict(decay_rate=decay_rate)))
    return constructor(model)


def group_of_each_param(optimizer):
    """Return a dict from id(param) to the param groups that contain it."""
    groups = {}
    for group in optimizer.param_groups:
        for param in group['params']:
            groups.setdefault(id(param), []).append(group)
    return groups


def expected_layer(name):
    if not name.startswith('backbone.'):
        return LAST_LAYER
    local_name = name[len('backbone.'):]
    matches = [layer for prefix, layer in BACKBONE_LAYERS.items() if local_name.startswith(prefix)]
    assert len(matches) == 1, f'no single expected layer for {name}'
    return matches[0]


def expected_no_decay(name):
    return any(re.search(pattern, name) for pattern in NO_DECAY_PATTERNS)


def test_every_param_lr_and_weight_decay():
    model = SmallDetector()
    optimizer = build_optim_wrapper(model).optimizer
    groups = group_of_each_param(optimizer)

    for name, param in model.named_parameters():
        assert id(param) in groups, f'{name} missing from the optimizer'
        assert len(groups[id(param)]) == 1, f'{name} is in several groups'
        group = groups[id(param)][0]
        expected_lr = BASE_LR * DECAY ** (LAST_LAYER - expected_layer(name))
        expected_wd = 0.0 if expected_no_decay(name) else BASE_WD
        assert group['lr'] == pytest.approx(expected_lr), name
        assert group['weight_decay'] == expected_wd, name


def test_group_count_and_totals():
    model = SmallDetector()
    optimizer = build_optim_wrapper(model).optimizer
    num_grouped = sum(len(group['params']) for group in optimizer.param_groups)
    assert num_grouped == len(list(model.parameters()))
    # Layers 0..6, each with a decayed and a non-decayed group.
    assert len(optimizer.param_groups) == 2 * (LAST_LAYER + 1)


def test_stem_and_last_layer_lr():
    model = SmallDetector()
    groups = group_of_each_param(build_optim_wrapper(model).optimizer)
    stem_lr = groups[id(model.backbone.downsample_layers[0][0].weight)][0]['lr']
    head_lr = groups[id(model.head.fc.weight)][0]['lr']
    neck_lr = groups[id(model.neck.conv.weight)][0]['lr']
    assert head_lr == pytest.approx(BASE_LR)
    assert neck_lr == pytest.approx(BASE_LR)
    assert stem_lr == pytest.approx(BASE_LR * DECAY ** LAST_LAYER)


def test_non_norm_1d_param_is_decayed():
    model = SmallDetector()
    groups = group_of_each_param(build_optim_wrapper(model).optimizer)
    assert groups[id(model.head.scale)][0]['weight_decay'] == BASE_WD
    assert groups[id(model.head.norm.weight)][0]['weight_decay'] == 0.0
    assert model.head.norm.weight.ndim == 2


def test_grn_params_not_decayed():
    model = SmallDetector()
    groups = group_of_each_param(build_optim_wrapper(model).optimizer)
    grn = model.backbone.stages[2][1].grn
    assert groups[id(grn.gamma)][0]['weight_decay'] == 0.0
    assert groups[id(grn.beta)][0]['weight_decay'] == 0.0
    assert groups[id(grn.gamma)][0]['lr'] == pytest.approx(BASE_LR * DECAY ** (LAST_LAYER - 4))


@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 4])
def test_frozen_params_left_out(frozen_stages):
    model = SmallDetector(frozen_stages=frozen_stages)
    groups = group_of_each_param(build_optim_wrapper(model).optimizer)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert frozen, 'the model should have frozen parameters'
    params = dict(model.named_parameters())
    for name in frozen:
        assert id(params[name]) not in groups, f'frozen {name} is in the optimizer'
    for name in trainable:
        assert id(params[name]) in groups, f'trainable {name} is missing'


def test_frozen_stages_keep_other_lrs():
    model = SmallDetector(frozen_stages=2)
    groups = group_of_each_param(build_optim_wrapper(model).optimizer)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        expected_lr = BASE_LR * DECAY ** (LAST_LAYER - expected_layer(name))
        assert groups[id(param)][0]['lr'] == pytest.approx(expected_lr), name


def test_decay_rate_one_gives_base_lr():
    model = SmallDetector()
    optimizer = build_optim_wrapper(model, decay_rate=1.0).optimizer
    for group in optimizer.param_groups:
        assert group['lr'] == pytest.approx(BASE_LR)


def test_optimizer_without_weight_decay():
    model = SmallDetector()
    optimizer = build_optim_wrapper(model, optimizer=dict(type='SGD', lr=0.1)).optimizer
    groups = group_of_each_param(optimizer)
    assert groups[id(model.head.fc.weight)][0]['weight_decay'] == 0
    assert groups[id(model.head.fc.bias)][0]['weight_decay'] == 0.0


def test_scheduler_keeps_layer_ratios():
    model = SmallDetector()
    optim_wrapper = build_optim_wrapper(model)
    scheduler = LinearLR(optim_wrapper, start_factor=0.1, by_epoch=False, begin=0, end=10)
    for _ in range(3):
        optim_wrapper.step()
        scheduler.step()
    groups = group_of_each_param(optim_wrapper.optimizer)
    head_lr = groups[id(model.head.fc.weight)][0]['lr']
    stem_lr = groups[id(model.backbone.downsample_layers[0][0].weight)][0]['lr']
    assert head_lr < BASE_LR
    assert stem_lr / head_lr == pytest.approx(DECAY ** LAST_LAYER)


def test_training_step_updates_trainable_params():
    model = SmallDetector(frozen_stages=1)
    optim_wrapper = build_optim_wrapper(model)
    frozen_before = model.backbone.stages[0][0].pwconv1.weight.detach().clone()
    trained_before = model.backbone.stages[3][0].pwconv1.weight.detach().clone()
    features = model.backbone(torch.randn(2, 3, 64, 64))[-1]
    loss = model.head.fc(model.neck.conv(features).mean(dim=(2, 3))).square().mean()
    optim_wrapper.update_params(loss)
    assert torch.equal(model.backbone.stages[0][0].pwconv1.weight, frozen_before)
    assert not torch.equal(model.backbone.stages[3][0].pwconv1.weight, trained_before)


@pytest.mark.parametrize('decay_rate', [0.0, -0.5, 1.5])
def test_invalid_decay_rate_raises(decay_rate):
    with pytest.raises(ValueError, match='decay_rate'):
        build_optim_wrapper(SmallDetector(), decay_rate=decay_rate)


def test_unknown_paramwise_key_raises():
    with pytest.raises(ValueError, match='num_layers'):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='cnx2_backbone.LayerDecayOptimWrapperConstructor',
            optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=BASE_LR)),
            paramwise_cfg=dict(decay_rate=0.9, num_layers=12)))


def test_model_without_trunk_raises():
    with pytest.raises(ValueError, match='ConvNeXt V2'):
        build_optim_wrapper(nn.Sequential(nn.Linear(4, 2)))


def test_mmdet_mask_rcnn_neck_and_heads_at_last_layer():
    pytest.importorskip('mmdet')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS

    cfg = Config.fromfile(
        str(REPO_ROOT / 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_1x_coco.py'))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    optim_cfg = cfg.optim_wrapper.to_dict()
    decay_rate = optim_cfg['paramwise_cfg']['decay_rate']
    lr = optim_cfg['optimizer']['lr']
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=optim_cfg.pop('constructor'), optim_wrapper_cfg=optim_cfg,
        paramwise_cfg=optim_cfg.pop('paramwise_cfg')))
    groups = group_of_each_param(constructor(model).optimizer)

    # atto has 2 + 2 + 6 + 2 = 12 blocks, so the last layer id is 13.
    last_layer = 13
    for name, param in model.named_parameters():
        group = groups[id(param)][0]
        if name.startswith(('neck.', 'rpn_head.', 'roi_head.')):
            assert group['lr'] == pytest.approx(lr), name
            assert group['layer_id'] == last_layer, name
    stem = model.backbone.downsample_layers[0][0].weight
    assert groups[id(stem)][0]['lr'] == pytest.approx(lr * decay_rate ** last_layer)
    last_block = model.backbone.stages[3][1].pwconv2.weight
    assert groups[id(last_block)][0]['layer_id'] == last_layer - 1
