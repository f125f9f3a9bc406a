"""The FCMAE configs load, carry the ImageNet recipe and build their parts."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import cnx2_backbone  # noqa: F401
from cnx2_backbone.registry import DATASETS, MODELS

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZES = ('atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge')
DEMO_CONFIG = REPO_ROOT / 'configs/fcmae/convnextv2-atto_fcmae_demo.py'


def in1k_config(size):
    return Config.fromfile(REPO_ROOT / f'configs/fcmae/convnextv2-{size}_fcmae_in1k-1600e.py')


@pytest.mark.parametrize('size', SIZES)
def test_in1k_config_recipe(size):
    cfg = in1k_config(size)
    assert cfg.model.arch == size
    assert cfg.model.mask_ratio == 0.6
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.betas == (0.9, 0.95)
    assert optimizer.weight_decay == 0.05
    # 1.5e-4 per 256 images at a total batch of 4096.
    assert optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    loader = cfg.train_dataloader
    assert loader.batch_size * 8 * cfg.optim_wrapper.accumulative_counts == 4096
    assert cfg.train_cfg.max_epochs == 1600
    assert cfg.param_scheduler[0].end == 40
    crop = loader.dataset.pipeline[0]
    assert (crop.type, crop.size, crop.scale) == ('RandomResizedCrop', 224, (0.2, 1.0))
    assert loader.dataset.pipeline[1].type == 'RandomHorizontalFlip'


def test_in1k_atto_model_builds():
    init_default_scope('cnx2_backbone')
    model = MODELS.build(in1k_config('atto').model)
    assert type(model).__name__ == 'FCMAE'
    assert model.encoder.dims == (40, 80, 160, 320)


def test_demo_config_builds_dataset(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    cfg = Config.fromfile(DEMO_CONFIG)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    # The train splits only: the val photos evaluate the fine-tuned models.
    assert len(dataset) == 48 + 16 + 32
    assert cfg.work_dir == 'work_dirs/fcmae_demo'
