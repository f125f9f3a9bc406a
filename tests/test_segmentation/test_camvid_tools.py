"""tools/train.py, tools/test.py and tools/infer.py on the CamVid config, as a user runs them.

One short real training (2 steps of 2 crops on the bundled CamVid images)
gives the checkpoint that the test and inference tools then load. Each tool
runs in its own process from the repository root, as the configs' relative
data paths expect.
"""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/upernet/convnextv2-atto_upernet_scratch_camvid-mini.py'
CAMVID = REPO_ROOT / 'demo' / 'data' / 'camvid_mini'
CLASSES = ('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence',
           'Car', 'Pedestrian', 'Bicyclist')
TRAIN_STEPS = 2
# Keeps each tool run short: few steps and images, no worker processes.
SMALL_RUN = [
    f'train_cfg.max_iters={TRAIN_STEPS}',
    f'train_cfg.val_interval={TRAIN_STEPS}',
    f'default_hooks.checkpoint.interval={TRAIN_STEPS}',
    'default_hooks.logger.interval=1',
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'val_dataloader.dataset.indices=3',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'test_dataloader.dataset.indices=3',
]


def run_tool(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f'{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    return result


def read_json_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope='module')
def trained_camvid(tmp_path_factory):
    """Train the scratch CamVid config for 2 steps and return the work dir."""
    work_dir = tmp_path_factory.mktemp('camvid_train')
    run_tool('tools/train.py', CONFIG, '--work-dir', str(work_dir),
             '--cfg-options', *SMALL_RUN)
    return work_dir


@pytest.mark.slow
def test_train_writes_checkpoint(trained_camvid):
    assert (trained_camvid / f'iter_{TRAIN_STEPS}.pth').is_file()


@pytest.mark.slow
def test_train_loss_is_finite(trained_camvid):
    scalars = read_json_lines(next(trained_camvid.glob('*/vis_data/scalars.json')))
    losses = [entry['loss'] for entry in scalars if 'loss' in entry]
    assert len(losses) == TRAIN_STEPS
    for loss in losses:
        assert math.isfinite(loss)
        assert loss > 0


@pytest.mark.slow
def test_train_validates_with_miou(trained_camvid):
    scalars = read_json_lines(next(trained_camvid.glob('*/vis_data/scalars.json')))
    metrics = [entry for entry in scalars if 'mIoU' in entry]
    assert len(metrics) == 1
    assert 0.0 <= metrics[0]['mIoU'] <= 100.0
    assert metrics[0]['step'] == TRAIN_STEPS


@pytest.mark.slow
def test_test_tool_reports_miou_and_class_iou(trained_camvid, tmp_path):
    run_tool('tools/test.py', CONFIG, str(trained_camvid / f'iter_{TRAIN_STEPS}.pth'),
             '--work-dir', str(tmp_path), '--cfg-options', *SMALL_RUN)
    metric_files = [path for path in tmp_path.glob('*/*.json')]
    assert len(metric_files) == 1
    metrics = read_json_lines(metric_files[0])[-1]
    assert math.isfinite(metrics['mIoU'])
    assert 0.0 <= metrics['mIoU'] <= 100.0
    # IoUMetric logs a per-class table with one row per class name.
    log_text = next(tmp_path.glob('*/*.log')).read_text()
    for name in CLASSES:
        assert re.search(rf'\|\s+{name}\s+\|\s+[\d.]+\s+\|', log_text), name


@pytest.mark.slow
def test_infer_tool_writes_overlays(trained_camvid, tmp_path):
    images = sorted((CAMVID / 'img_dir' / 'val').glob('*.png'))[:2]
    out_dir = tmp_path / 'overlays'
    run_tool('tools/infer.py', CONFIG, str(trained_camvid / f'iter_{TRAIN_STEPS}.pth'),
             *map(str, images), '--out', str(out_dir))
    for image_path in images:
        overlay_path = out_dir / f'{image_path.stem}.png'
        assert overlay_path.is_file(), overlay_path
        with Image.open(image_path) as image, Image.open(overlay_path) as overlay:
            assert overlay.size == image.size
            # The class colours are blended in, so the pixels change.
            difference = np.abs(np.asarray(overlay.convert('RGB'), dtype=np.int16)
                                - np.asarray(image.convert('RGB'), dtype=np.int16))
            assert difference.mean() > 1.0
