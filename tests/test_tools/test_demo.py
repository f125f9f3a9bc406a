"""The demo pipeline end to end at the tiny budget (a few iterations per stage)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('demo')
    result = subprocess.run([sys.executable, 'tools/demo.py', '--budget', 'tiny',
                             '--work-dir', str(work_dir)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    return work_dir, result


def metrics_of(summary: str, stage: str) -> dict:
    row = next(line for line in summary.splitlines() if line.startswith(f'| {stage} |'))
    cells = [cell.strip() for cell in row.strip('|').split('|')]
    # The metrics cell reads 'name value, name value'.
    pairs = [item.rsplit(' ', 1) for item in cells[3].split(', ') if item != '-']
    return {name.strip(): value for name, value in pairs}


@pytest.mark.slow
def test_demo_exits_zero(demo_run):
    _, result = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize('stage', ['pretrain', 'detection', 'segmentation', 'classification'])
def test_demo_stage_ok(demo_run, stage):
    work_dir, _ = demo_run
    summary = (work_dir / 'summary.md').read_text()
    assert f'| {stage} | ok |' in summary


@pytest.mark.slow
@pytest.mark.parametrize('stage, keys', [
    ('pretrain', ['first logged loss', 'last logged loss']),
    ('detection', ['coco/bbox_mAP', 'coco/segm_mAP']),
    ('segmentation', ['mIoU']),
    ('classification', ['accuracy/top1']),
])
def test_demo_metrics_finite(demo_run, stage, keys):
    work_dir, _ = demo_run
    metrics = metrics_of((work_dir / 'summary.md').read_text(), stage)
    for key in keys:
        assert key in metrics, (key, metrics)
        assert math.isfinite(float(metrics[key])), (key, metrics)


@pytest.mark.slow
@pytest.mark.parametrize('relative', [
    'pretrain/backbone.pth',
    'pictures/fcmae_reconstruction.png',
    'pictures/classify.json',
])
def test_demo_outputs_exist(demo_run, relative):
    work_dir, _ = demo_run
    path = work_dir / relative
    assert path.is_file(), path
    assert path.stat().st_size > 0, path


@pytest.mark.slow
@pytest.mark.parametrize('folder', ['detection', 'segmentation'])
def test_demo_overlays_written(demo_run, folder):
    work_dir, _ = demo_run
    assert list((work_dir / 'pictures' / folder).glob('*.png'))


@pytest.mark.slow
def test_demo_classify_json_has_results(demo_run):
    work_dir, _ = demo_run
    output = json.loads((work_dir / 'pictures' / 'classify.json').read_text())
    assert len(output['results']) == 4
