"""Every UperNet config loads with Config.fromfile and builds a real mmseg model."""
import argparse
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO_ROOT = Path(__file__).resolve().parents[2]
UPERNET_DIR = REPO_ROOT / 'configs' / 'upernet'
CONFIG_PATHS = sorted(UPERNET_DIR.glob('*.py'))
ADE20K_SIZES = ('tiny', 'base', 'large', 'huge')
CAMVID_CONFIGS = ('convnextv2-atto_upernet_fcmae-ft_camvid-mini.py',
                  'convnextv2-atto_upernet_scratch_camvid-mini.py')
FCMAE_URL = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_{}_1k_224_fcmae.pt'


def ade20k_config_path(size):
    return UPERNET_DIR / f'convnextv2-{size}_upernet_8xb2-160k_ade20k-512x512.py'


def build_segmentor(cfg):
    import cnx2_backbone  # noqa: F401
    from mmseg.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return MODELS.build(copy.deepcopy(cfg.model))


def test_upernet_configs_present():
    names = {path.name for path in CONFIG_PATHS}
    for size in ADE20K_SIZES:
        assert ade20k_config_path(size).name in names
    for name in CAMVID_CONFIGS:
        assert name in names


@pytest.mark.parametrize('path', CONFIG_PATHS, ids=lambda path: path.stem)
def test_config_loads(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmseg'
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.type == 'cnx2_backbone.ConvNeXtV2'
    assert 'cnx2_backbone' in cfg.custom_imports.imports
    assert cfg.model.pretrained is None
    # The scheduler's last phase ends where training ends.
    assert cfg.param_scheduler[-1].end == cfg.train_cfg.max_iters
    assert cfg.optim_wrapper.constructor == 'cnx2_backbone.LayerDecayOptimWrapperConstructor'
    # --amp picks the wrapper per machine, so no config fixes it.
    assert cfg.optim_wrapper.type == 'OptimWrapper'


@pytest.mark.parametrize('size', ADE20K_SIZES)
def test_ade20k_recipe(size):
    cfg = Config.fromfile(str(ade20k_config_path(size)))
    assert cfg.model.backbone.arch == size
    assert cfg.model.backbone.init_cfg.checkpoint == FCMAE_URL.format(size)
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.model.auxiliary_head.num_classes == 150
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.param_scheduler[0].type == 'LinearLR'
    assert cfg.param_scheduler[1].type == 'PolyLR'
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size
    assert cfg.model.data_preprocessor.size == (512, 512)


def test_ade20k_drop_path_grows_with_size():
    rates = [Config.fromfile(str(ade20k_config_path(size))).model.backbone.drop_path_rate
             for size in ADE20K_SIZES]
    assert rates == sorted(rates)
    assert len(set(rates)) == len(rates)


def test_camvid_configs_differ_only_in_init_cfg():
    fcmae, scratch = (Config.fromfile(str(UPERNET_DIR / name)).to_dict()
                      for name in CAMVID_CONFIGS)
    assert fcmae['model']['backbone'].pop('init_cfg')['type'] == 'Pretrained'
    assert scratch['model']['backbone'].pop('init_cfg') is None
    assert fcmae['model'] == scratch['model']
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                'randomness'):
        assert fcmae[key] == scratch[key], key


def check_builds_and_runs(cfg):
    """Build the model as ``cfg`` states, run a small input through it and return it."""
    model = build_segmentor(cfg)
    backbone_dims = list(model.backbone.dims)
    assert list(model.decode_head.in_channels) == backbone_dims
    assert model.auxiliary_head.in_channels == backbone_dims[model.auxiliary_head.in_index]

    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 96), mode='tensor')
    assert logits.shape == (1, cfg.model.decode_head.num_classes, 16, 24)
    assert torch.isfinite(logits).all()
    return model


@pytest.mark.parametrize('name', CAMVID_CONFIGS)
def test_camvid_config_builds_and_runs(name):
    check_builds_and_runs(Config.fromfile(str(UPERNET_DIR / name)))


@pytest.mark.parametrize('size', ADE20K_SIZES)
def test_ade20k_config_builds_with_layer_decay(size):
    """Build the model and its optimizer. The stem trains at 0.1-0.2 x lr for every size."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(str(ade20k_config_path(size)))
    model = check_builds_and_runs(cfg)

    optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    groups = optim_wrapper.optimizer.param_groups
    stem_scale = min(group['lr_scale'] for group in groups)
    assert 0.1 <= stem_scale <= 0.2
    # Heads train at the full lr.
    assert max(group['lr'] for group in groups) == pytest.approx(1e-4)
    grouped = sum(param.numel() for group in groups for param in group['params'])
    trainable = sum(param.numel() for param in model.parameters() if param.requires_grad)
    assert grouped == trainable


def test_camvid_fcmae_config_loads_export(tmp_path):
    """The FCMAE CamVid config starts from the encoder that the FCMAE export writes."""
    from cnx2_backbone.models import FCMAE
    from cnx2_backbone.models.fcmae_export import export_backbone
    fcmae = FCMAE(arch='atto')
    export_path = tmp_path / 'backbone.pth'
    export_backbone(fcmae.state_dict(), export_path)

    cfg = Config.fromfile(str(UPERNET_DIR / CAMVID_CONFIGS[0]))
    cfg.model.backbone.init_cfg.checkpoint = str(export_path)
    model = build_segmentor(cfg)
    encoder = fcmae.state_dict()
    stem = 'downsample_layers.0.0.weight'
    # Both start from their own random draws, so only loading makes them equal.
    assert not torch.equal(model.backbone.state_dict()[stem], encoder[f'encoder.{stem}'])
    model.init_weights()

    backbone = model.backbone.state_dict()
    for name in ('downsample_layers.0.0.weight', 'stages.0.0.dwconv.weight',
                 'stages.2.5.grn.gamma', 'stages.3.1.pwconv2.weight'):
        assert torch.equal(backbone[name], encoder[f'encoder.{name}']), name


def test_ade20k_amp_option_keeps_layer_decay():
    """tools/train.py --amp swaps only the wrapper type of an ADE20K config."""
    from cnx2_backbone import runtime
    path = str(ade20k_config_path('tiny'))
    parser = runtime.add_runner_args(argparse.ArgumentParser())
    cfg = runtime.build_config(path, parser.parse_args(['--amp']))
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert cfg.optim_wrapper.type == 'cnx2_backbone.BFloat16OptimWrapper'
    assert cfg.optim_wrapper.constructor == 'cnx2_backbone.LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate == 0.9
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
