"""Every Mask R-CNN config loads with Config.fromfile and builds."""
import copy
import functools
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, init_default_scope  # noqa: E402

import cnx2_backbone.engine  # noqa: E402,F401
from cnx2_backbone.models import ARCH_SETTINGS  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs' / 'mask_rcnn'
SIZES = ('atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge')
COCO_CONFIGS = [f'mask-rcnn_convnextv2-{size}_fpn_{schedule}_coco.py'
                for size in SIZES for schedule in ('1x', 'ms-3x')]
BALLOON_CONFIGS = ['mask-rcnn_convnextv2-atto_balloon.py',
                   'mask-rcnn_convnextv2-atto_balloon_scratch.py']
FCMAE_URL = ('https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/'
             'convnextv2_{}_1k_224_fcmae.pt')
# Small enough to build with real weights and run on CPU in a test.
REAL_BUILD_SIZES = ('atto', 'femto', 'pico', 'nano', 'tiny')


@functools.lru_cache(maxsize=None)
def load_cached(name):
    return Config.fromfile(str(CONFIG_DIR / name))


def load(name):
    return copy.deepcopy(load_cached(name))


def build_detector(model_cfg):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(copy.deepcopy(model_cfg))


def build_detector_on_meta(model_cfg, monkeypatch):
    """Build with parameters on the meta device: shapes without memory or init time.

    Huge has 680M parameters, which take about a minute to build on two CPU
    cores. The backbone turns its drop path rates into floats with
    ``torch.linspace(...).tolist()``, which has no data on the meta device, so
    linspace alone is kept on the CPU.
    """
    cpu_linspace = torch.linspace
    monkeypatch.setattr(torch, 'linspace',
                        lambda *args, **kwargs: cpu_linspace(*args, **kwargs, device='cpu'))
    with torch.device('meta'):
        return build_detector(model_cfg)


def build_optimizer(cfg, model):
    optim_cfg = cfg.optim_wrapper.to_dict()
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=optim_cfg.pop('constructor'),
        optim_wrapper_cfg=optim_cfg,
        paramwise_cfg=optim_cfg.pop('paramwise_cfg')))
    return constructor(model).optimizer


def test_config_folder_is_covered():
    on_disk = sorted(path.name for path in CONFIG_DIR.glob('*.py'))
    assert on_disk == sorted(COCO_CONFIGS + BALLOON_CONFIGS)


@pytest.mark.parametrize('name', COCO_CONFIGS + BALLOON_CONFIGS)
def test_config_loads_with_scoped_backbone(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmdet'
    assert 'cnx2_backbone' in cfg.custom_imports.imports
    assert cfg.model.type == 'MaskRCNN'
    assert cfg.model.backbone.type == 'cnx2_backbone.ConvNeXtV2'
    assert cfg.optim_wrapper.constructor == 'cnx2_backbone.LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    # The SGD keys of mmdet's schedule must not leak into AdamW.
    assert 'momentum' not in cfg.optim_wrapper.optimizer


@pytest.mark.parametrize('name', COCO_CONFIGS + BALLOON_CONFIGS)
def test_fpn_channels_match_arch(name):
    cfg = load(name)
    arch = cfg.model.backbone.arch
    assert list(cfg.model.neck.in_channels) == list(ARCH_SETTINGS[arch]['dims'])


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('schedule', ['1x', 'ms-3x'])
def test_coco_config_values(size, schedule):
    cfg = load(f'mask-rcnn_convnextv2-{size}_fpn_{schedule}_coco.py')
    assert cfg.model.backbone.arch == size
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone.init_cfg.checkpoint == FCMAE_URL.format(size)
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert 0.0 < cfg.model.backbone.drop_path_rate < 1.0
    assert 0.0 < cfg.optim_wrapper.paramwise_cfg.decay_rate <= 1.0
    assert cfg.train_dataloader.dataset.type == 'CocoDataset'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert cfg.auto_scale_lr.base_batch_size == 16


@pytest.mark.parametrize('size', SIZES)
def test_1x_and_3x_share_model_and_optimizer(size):
    one_x = load(f'mask-rcnn_convnextv2-{size}_fpn_1x_coco.py')
    three_x = load(f'mask-rcnn_convnextv2-{size}_fpn_ms-3x_coco.py')
    assert one_x.model.to_dict() == three_x.model.to_dict()
    assert one_x.optim_wrapper.to_dict() == three_x.optim_wrapper.to_dict()


@pytest.mark.parametrize('size', SIZES)
def test_schedules(size):
    one_x = load(f'mask-rcnn_convnextv2-{size}_fpn_1x_coco.py')
    three_x = load(f'mask-rcnn_convnextv2-{size}_fpn_ms-3x_coco.py')
    assert one_x.train_cfg.max_epochs == 12
    assert one_x.param_scheduler[1].milestones == [8, 11]
    assert three_x.train_cfg.max_epochs == 36
    assert three_x.param_scheduler[1].milestones == [27, 33]
    assert three_x.param_scheduler[1].end == 36
    resize = [step for step in three_x.train_dataloader.dataset.pipeline
              if step.type == 'RandomChoiceResize']
    assert len(resize) == 1
    short_sides = [scale[1] for scale in resize[0].scales]
    assert short_sides == list(range(480, 801, 32))


def test_drop_path_grows_with_size():
    rates = [load(f'mask-rcnn_convnextv2-{size}_fpn_1x_coco.py').model.backbone.drop_path_rate
             for size in SIZES]
    assert rates == sorted(rates)
    assert rates[0] < rates[-1]


@pytest.mark.parametrize('size', SIZES)
def test_coco_config_builds(size, monkeypatch):
    cfg = load(f'mask-rcnn_convnextv2-{size}_fpn_1x_coco.py')
    model = build_detector_on_meta(cfg.model, monkeypatch)
    assert type(model).__name__ == 'MaskRCNN'
    assert model.roi_head.bbox_head.num_classes == 80

    # FPN must accept the backbone's outputs: shapes only, on the meta device.
    with torch.no_grad():
        features = model.neck(model.backbone(torch.empty(1, 3, 64, 96, device='meta')))
    assert len(features) == 5
    assert all(feature.shape[1] == 256 for feature in features)

    optimizer = build_optimizer(cfg, model)
    num_grouped = sum(len(group['params']) for group in optimizer.param_groups)
    assert num_grouped == len(list(model.parameters()))
    # The stem gets the smallest lr and the heads the full one.
    lrs = [group['lr'] for group in optimizer.param_groups]
    assert max(lrs) == pytest.approx(cfg.optim_wrapper.optimizer.lr)


@pytest.mark.parametrize('size', REAL_BUILD_SIZES)
def test_coco_config_forward_on_cpu(size):
    cfg = load(f'mask-rcnn_convnextv2-{size}_fpn_1x_coco.py')
    model = build_detector(cfg.model).eval()
    with torch.no_grad():
        features = model.neck(model.backbone(torch.randn(1, 3, 64, 96)))
    assert [tuple(feature.shape[2:]) for feature in features] == [
        (16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]


@pytest.mark.parametrize('name', BALLOON_CONFIGS)
def test_balloon_config_builds(name):
    cfg = load(name)
    model = build_detector(cfg.model)
    assert model.roi_head.bbox_head.num_classes == 1
    assert model.roi_head.mask_head.num_classes == 1
    assert cfg.train_dataloader.dataset.metainfo.classes == ('balloon',)
    assert cfg.train_dataloader.dataset.filter_cfg.filter_empty_gt is False
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'


def test_balloon_configs_differ_only_in_init_cfg():
    fcmae = load('mask-rcnn_convnextv2-atto_balloon.py').to_dict()
    scratch = load('mask-rcnn_convnextv2-atto_balloon_scratch.py').to_dict()
    assert fcmae['model']['backbone'].pop('init_cfg') == dict(
        type='Pretrained', checkpoint='work_dirs/fcmae_demo/backbone.pth')
    assert scratch['model']['backbone'].pop('init_cfg') is None
    # The module-level path variable exists only to name the checkpoint.
    fcmae.pop('fcmae_backbone')
    scratch.pop('fcmae_backbone')
    assert fcmae == scratch


def test_balloon_data_paths_exist():
    cfg = load('mask-rcnn_convnextv2-atto_balloon.py')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        dataset = loader.dataset
        assert (REPO_ROOT / dataset.data_root / dataset.ann_file).is_file()
        assert (REPO_ROOT / dataset.data_root / dataset.data_prefix.img).is_dir()
    assert (REPO_ROOT / cfg.val_evaluator.ann_file).is_file()
