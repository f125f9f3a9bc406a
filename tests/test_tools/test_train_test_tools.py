"""tools/train.py and tools/test.py on the balloon Mask R-CNN config, as a user runs them.

A short real training is interrupted after its first checkpoint and resumed
with ``--resume``. tools/test.py then evaluates the result, and a separate
run checks ``--amp`` (bfloat16 autocast on CPU). Each tool runs in its own
process from the repository root, as the configs' relative data paths expect.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon_scratch.py'
TRAIN_STEPS = 6
CHECKPOINT_INTERVAL = 2
# Shrinks the run to about a minute: few steps, no worker processes; the
# validation covers all 6 val images.
SMALL_RUN = [
    f'train_cfg.max_iters={TRAIN_STEPS}',
    f'train_cfg.val_interval={TRAIN_STEPS}',
    f'default_hooks.checkpoint.interval={CHECKPOINT_INTERVAL}',
    'default_hooks.checkpoint.max_keep_ckpts=-1',
    'default_hooks.logger.interval=1',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
]
COCO_METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50')


def run_tool(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, (f'{args[0]} failed:\n{result.stdout[-3000:]}\n'
                                    f'{result.stderr[-3000:]}')
    return result


def read_json_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_scalars(work_dir):
    """Return the logged scalars of each run in ``work_dir``, oldest run first."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    return [read_json_lines(path) for path in files]


def train_until_first_checkpoint_then_kill(work_dir):
    """Start training and kill it with SIGKILL once a checkpoint is on disk."""
    command = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
               '--cfg-options', *SMALL_RUN]
    with open(work_dir.parent / 'interrupted_run.log', 'w') as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        # mmengine writes last_checkpoint right after saving a checkpoint.
        marker = work_dir / 'last_checkpoint'
        deadline = time.monotonic() + 600
        while not marker.is_file():
            if process.poll() is not None:
                raise AssertionError(f'training exited with {process.returncode} before the '
                                     f'first checkpoint; see {log.name}')
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError('no checkpoint within 600 s')
            time.sleep(0.5)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    return Path(marker.read_text().strip())


@pytest.fixture(scope='module')
def resumed_run(tmp_path_factory):
    """Train, kill after the first checkpoint, resume to the end; returns details."""
    work_dir = tmp_path_factory.mktemp('balloon_train') / 'work_dir'
    work_dir.mkdir()
    interrupted_at = train_until_first_checkpoint_then_kill(work_dir)
    resumed = run_tool('tools/train.py', CONFIG, '--work-dir', str(work_dir), '--resume',
                       '--cfg-options', *SMALL_RUN)
    return dict(work_dir=work_dir, interrupted_at=interrupted_at, output=resumed.stderr
                + resumed.stdout)


@pytest.mark.slow
def test_interrupted_run_left_a_checkpoint(resumed_run):
    checkpoint = resumed_run['interrupted_at']
    assert checkpoint.name.startswith('iter_')
    assert int(checkpoint.stem.split('_')[1]) < TRAIN_STEPS


@pytest.mark.slow
def test_resume_continues_from_checkpoint(resumed_run):
    resumed_iter = int(resumed_run['interrupted_at'].stem.split('_')[1])
    assert 'resumed epoch' in resumed_run['output']
    resumed_steps = [entry['step'] for entry in run_scalars(resumed_run['work_dir'])[-1]
                     if 'loss' in entry]
    # The resumed run logs only the steps after the checkpoint.
    assert resumed_steps == list(range(resumed_iter + 1, TRAIN_STEPS + 1))


@pytest.mark.slow
def test_final_checkpoint_has_all_steps(resumed_run):
    from cnx2_backbone.runtime import runner_checkpoint_loading
    final = resumed_run['work_dir'] / f'iter_{TRAIN_STEPS}.pth'
    assert final.is_file()
    with runner_checkpoint_loading():
        checkpoint = torch.load(final, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['iter'] == TRAIN_STEPS
    assert checkpoint['meta']['dataset_meta']['classes'] == ('balloon',)


@pytest.mark.slow
def test_train_losses_are_finite(resumed_run):
    for scalars in run_scalars(resumed_run['work_dir']):
        losses = [entry for entry in scalars if 'loss' in entry]
        for entry in losses:
            for name, value in entry.items():
                if name.startswith('loss'):
                    assert math.isfinite(value), f'step {entry["step"]}: {name} = {value}'


@pytest.mark.slow
def test_train_validates_with_coco_metrics(resumed_run):
    scalars = run_scalars(resumed_run['work_dir'])[-1]
    metrics = [entry for entry in scalars if 'coco/bbox_mAP' in entry]
    assert len(metrics) == 1
    for name in COCO_METRICS:
        assert 0.0 <= metrics[0][name] <= 1.0, name


@pytest.mark.slow
def test_test_tool_reports_coco_metrics(resumed_run, tmp_path):
    checkpoint = resumed_run['work_dir'] / f'iter_{TRAIN_STEPS}.pth'
    run_tool('tools/test.py', CONFIG, str(checkpoint), '--work-dir', str(tmp_path),
             '--cfg-options', *SMALL_RUN)
    metric_files = list(tmp_path.glob('*/*.json'))
    assert len(metric_files) == 1
    metrics = read_json_lines(metric_files[0])[-1]
    for name in COCO_METRICS:
        assert math.isfinite(metrics[name]), name
        assert 0.0 <= metrics[name] <= 1.0, name


@pytest.mark.slow
def test_amp_trains_two_steps(tmp_path):
    result = run_tool('tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--amp',
                      '--cfg-options', *SMALL_RUN, 'train_cfg.max_iters=2',
                      'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
                      'val_dataloader.dataset.indices=1')
    output = result.stdout + result.stderr
    if not torch.cuda.is_available():
        assert 'bfloat16' in output
    losses = [entry for entry in run_scalars(tmp_path)[-1] if 'loss' in entry]
    assert [entry['step'] for entry in losses] == [1, 2]
    for entry in losses:
        assert math.isfinite(entry['loss'])
    assert (tmp_path / 'iter_2.pth').is_file()
