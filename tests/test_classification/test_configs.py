"""Every classification config loads, and its model, data and optimizer build."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from cnx2_backbone.datasets.classification import build_transforms
from cnx2_backbone.datasets.unlabeled import decode_image
from cnx2_backbone.registry import DATASETS, MODELS

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs' / 'classification'
IN1K_CONFIGS = sorted(CONFIG_DIR.glob('convnextv2-*_in1k.py'))
# Building these takes seconds and gigabytes of memory (huge: 2.6 GB).
LARGE_SIZES = ('large', 'huge')
HYMENOPTERA_CONFIGS = sorted(CONFIG_DIR.glob('*_hymenoptera.py'))
# Parameter counts of the ConvNeXt V2 paper (Table 12 of Woo et al., 2023), in millions.
PAPER_PARAMS = dict(atto=3.7, femto=5.2, pico=9.1, nano=15.6, tiny=28.6, base=89.0,
                    large=198.0, huge=660.0)


def test_every_size_has_a_config():
    sizes = {path.name.split('_')[0].split('-')[1] for path in IN1K_CONFIGS}
    assert sizes == set(PAPER_PARAMS)


def in1k_params():
    for path in IN1K_CONFIGS:
        marks = [pytest.mark.slow] if path.name.split('_')[0].split('-')[1] in LARGE_SIZES else []
        yield pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize('path', list(in1k_params()))
def test_in1k_config_builds_model_of_its_size(path):
    cfg = Config.fromfile(str(path))
    size = cfg.model.classifier.arch
    assert size in path.name
    assert cfg.model.classifier.num_classes == 1000
    assert cfg.model.classifier.head_init_scale == 0.001
    assert cfg.model.classifier.init_cfg.type == 'Pretrained'
    assert f'convnextv2_{size}_1k_224_fcmae' in cfg.model.classifier.init_cfg.checkpoint
    assert cfg.optim_wrapper.constructor == 'cnx2_backbone.LayerDecayOptimWrapperConstructor'
    assert cfg.custom_hooks[0].type == 'EMAHook'
    model = MODELS.build(cfg.model)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert params == pytest.approx(PAPER_PARAMS[size], rel=0.02)


def test_in1k_train_pipeline_runs_on_a_real_photo(hymenoptera):
    cfg = Config.fromfile(str(CONFIG_DIR / 'convnextv2-tiny_fcmae-ft_8xb128_in1k.py'))
    transforms = build_transforms(cfg.train_dataloader.dataset.pipeline)
    image = decode_image(str(sorted((hymenoptera / 'train' / 'bees').glob('*.jpg'))[0]))
    output = transforms(image)
    assert output.dtype == torch.uint8
    assert tuple(output.shape) == (3, 224, 224)


@pytest.mark.parametrize('path', HYMENOPTERA_CONFIGS, ids=lambda p: p.stem)
def test_hymenoptera_config_builds_data_and_optimizer(path):
    cfg = Config.fromfile(str(path))
    cfg.model.classifier.init_cfg = None
    model = MODELS.build(cfg.model)
    assert model.num_classes == 2

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert dataset.metainfo['classes'] == ('ants', 'bees')
    assert tuple(dataset[0]['inputs'].shape) == (3, 128, 128)
    val_dataset = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(val_dataset) == 24

    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_scales = [group['lr_scale'] for group in optim_wrapper.optimizer.param_groups]
    assert max(lr_scales) == 1.0
    assert len(lr_scales) > 2


def test_scratch_config_differs_only_in_init_and_layer_decay():
    finetune = Config.fromfile(str(CONFIG_DIR / 'convnextv2-atto_fcmae-ft_hymenoptera.py'))
    scratch = Config.fromfile(str(CONFIG_DIR / 'convnextv2-atto_scratch_hymenoptera.py'))
    assert scratch.model.classifier.init_cfg is None
    assert scratch.optim_wrapper.paramwise_cfg.decay_rate == 1.0
    assert finetune.model.classifier.init_cfg.type == 'Pretrained'
    assert scratch.train_cfg == finetune.train_cfg
    assert scratch.param_scheduler == finetune.param_scheduler
    assert scratch.optim_wrapper.optimizer == finetune.optim_wrapper.optimizer
    assert scratch.train_dataloader == finetune.train_dataloader
