"""Fixtures of the classification tests: small real image folders and a trained checkpoint."""
import shutil
from pathlib import Path

import pytest

CLASSIFICATION_CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'classification'
CROP_SIZE = 64


def copy_subset(source: Path, target: Path, per_class: int) -> Path:
    """Copy the first ``per_class`` images of every class folder of ``source``."""
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.glob('*.jpg'))[:per_class]:
            shutil.copy(image, target / class_dir.name / image.name)
    return target


def write_truncated_jpeg(source: Path, target: Path) -> Path:
    """Write the first 40 % of a real JPEG, which Pillow rejects as truncated."""
    data = source.read_bytes()
    target.write_bytes(data[:len(data) * 2 // 5])
    return target


@pytest.fixture(scope='session')
def truncated_jpeg():
    """The function that writes a truncated copy of a real JPEG."""
    return write_truncated_jpeg


@pytest.fixture(scope='session')
def hymenoptera(demo_data) -> Path:
    return demo_data / 'hymenoptera'


@pytest.fixture(scope='session')
def small_train_folder(tmp_path_factory, hymenoptera) -> Path:
    """Four real ants and four real bees photos in ImageFolder layout."""
    return copy_subset(hymenoptera / 'train', tmp_path_factory.mktemp('train_subset'), 4)


def make_short_finetune_config(train_root: Path, val_root: Path, work_dir: Path, max_iters: int,
                          init_checkpoint: str = None):
    """The ants/bees config shrunk to ``max_iters`` steps of 8 images at 64 px on CPU."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(CLASSIFICATION_CONFIGS / 'convnextv2-atto_scratch_hymenoptera.py'))
    fixed_pipeline = [dict(type='Resize', size=CROP_SIZE, interpolation='bicubic',
                           antialias=True),
                      dict(type='CenterCrop', size=CROP_SIZE)]
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.data_root = str(train_root)
    # Deterministic crops, so that the loss curve shows learning and not crop noise.
    cfg.train_dataloader.dataset.pipeline = fixed_pipeline
    cfg.val_dataloader.batch_size = 8
    cfg.val_dataloader.num_workers = 0
    cfg.val_dataloader.persistent_workers = False
    cfg.val_dataloader.dataset.data_root = str(val_root)
    cfg.val_dataloader.dataset.pipeline = fixed_pipeline
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.checkpoint.save_best = None
    cfg.model.classifier.drop_path_rate = 0.0
    if init_checkpoint is not None:
        cfg.model.classifier.init_cfg = dict(type='Pretrained', checkpoint=init_checkpoint)
        cfg.model.classifier.head_init_scale = 0.001
    return cfg


@pytest.fixture(scope='session')
def short_finetune_config():
    """The function that shrinks the ants/bees config for a test run."""
    return make_short_finetune_config


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory, small_train_folder, hymenoptera):
    """Train atto for 12 steps with tools/train.py's code path; returns (runner, work_dir)."""
    from cnx2_backbone import runtime

    work_dir = tmp_path_factory.mktemp('finetune')
    val_root = copy_subset(hymenoptera / 'val', tmp_path_factory.mktemp('val_subset'), 4)
    cfg = make_short_finetune_config(small_train_folder, val_root, work_dir, max_iters=12)
    runner = runtime.train(cfg)
    return runner, work_dir


@pytest.fixture(scope='session')
def trained_checkpoint(trained_run) -> Path:
    _, work_dir = trained_run
    return work_dir / 'iter_12.pth'


@pytest.fixture
def log_messages():
    """Messages logged through mmengine's current logger during the test."""
    import logging

    from mmengine.logging import MMLogger

    class Collector(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    collector = Collector()
    logger.addHandler(collector)
    yield collector.messages
    logger.removeHandler(collector)
