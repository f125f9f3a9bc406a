"""tools/pretrain.py, tools/export_backbone.py as a user runs them, on real photos.

Every run is a separate process started from the repository root, on a
folder of bundled photos mixed with files that must be skipped. One run is
killed after its first checkpoint and resumed with ``--resume``.
"""
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnx2_backbone import ConvNeXtV2
from cnx2_backbone.checkpoint import load_pretrained, read_checkpoint
from cnx2_backbone.models.fcmae_export import export_backbone

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'tests/test_fcmae/tiny_fcmae_config.py'
TINY_ARCH = dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32))
MAX_ITERS = 6


@pytest.fixture(scope='module')
def image_folder(demo_data, tmp_path_factory):
    """Real photos in class folders, one grayscale, one 16-bit, one RGBA, and files to skip."""
    root = tmp_path_factory.mktemp('pretrain_images')
    photos = sorted((demo_data / 'hymenoptera' / 'train' / 'ants').glob('*.jpg'))[:4]
    (root / 'ants').mkdir()
    for photo in photos:
        shutil.copy(photo, root / 'ants' / photo.name)
    (root / 'other').mkdir()
    Image.open(photos[0]).convert('L').save(root / 'other' / 'gray.png')
    Image.open(photos[1]).convert('RGBA').save(root / 'other' / 'alpha.png')
    depth = (np.asarray(Image.open(photos[2]).convert('L'), dtype=np.uint16) * 257)
    Image.fromarray(depth).save(root / 'other' / 'depth16.png')
    (root / 'other' / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a whole jpeg')
    (root / 'other' / 'empty.png').touch()
    (root / 'other' / 'labels.json').write_text('{}')
    return root


def pretrain_command(work_dir, image_folder, *options):
    return ['tools/pretrain.py', CONFIG, '--work-dir', str(work_dir), '--cfg-options',
            f'train_dataloader.dataset.data_root={image_folder}', *options]


def run_tool(*args, expect_code=0):
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == expect_code, (f'{args[0]} exited with {result.returncode}:\n'
                                              f'{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


def run_scalars(work_dir):
    """Return the logged scalars of each run in ``work_dir``, oldest run first."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    return [[json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            for path in files]


def run_log(work_dir):
    return '\n'.join(path.read_text() for path in sorted(work_dir.glob('*/*.log')))


@pytest.fixture(scope='module')
def finished_run(image_folder, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('pretrain') / 'work_dir'
    run_tool(*pretrain_command(work_dir, image_folder))
    return work_dir


def test_run_logs_loss_lr_throughput_eta(finished_run):
    records = run_scalars(finished_run)[0]
    assert [record['step'] for record in records] == list(range(1, MAX_ITERS + 1))
    for key in ('loss', 'lr', 'images_per_s', 'time'):
        assert all(key in record for record in records), key
    assert all(np.isfinite(record['loss']) for record in records)
    last = records[-1]
    assert last['images_per_s'] * last['time'] == pytest.approx(4, rel=1e-3)
    assert 'eta:' in run_log(finished_run)


def test_run_skips_bad_files_and_logs_them(finished_run):
    log = run_log(finished_run)
    assert '8 images; skipped files: 1 zero-byte, 1 without an image suffix.' in log
    assert 'Skipping undecodable image' in log
    assert 'broken.jpg' in log


def test_run_saves_checkpoints_every_interval(finished_run):
    names = sorted(path.name for path in finished_run.glob('iter_*.pth'))
    assert names == ['iter_2.pth', 'iter_4.pth', 'iter_6.pth']


def test_exported_backbone_loads_without_missing_keys(finished_run):
    backbone = ConvNeXtV2(arch=TINY_ARCH)
    report = load_pretrained(backbone, finished_run / 'backbone.pth')
    assert report.unexpected == {}
    assert sorted(report.missing) == sorted(report.expected_missing)
    assert all(key.startswith('norm') for key in report.missing)
    assert len(report.loaded) == len(backbone.state_dict()) - len(report.missing)


def test_exported_backbone_equals_trained_encoder(finished_run):
    trained = read_checkpoint(finished_run / 'iter_6.pth')['state_dict']
    backbone = ConvNeXtV2(arch=TINY_ARCH,
                          init_cfg=dict(type='Pretrained',
                                        checkpoint=str(finished_run / 'backbone.pth')))
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        if not key.startswith('norm'):
            assert torch.equal(value, trained[f'encoder.{key}']), key


def test_export_tool_matches_end_of_run_export(finished_run, tmp_path):
    out = tmp_path / 'exported.pth'
    run_tool('tools/export_backbone.py', str(finished_run / 'iter_6.pth'), str(out))
    exported = torch.load(out, weights_only=True)['state_dict']
    at_end = torch.load(finished_run / 'backbone.pth', weights_only=True)['state_dict']
    assert sorted(exported) == sorted(at_end)
    assert all(torch.equal(exported[key], at_end[key]) for key in at_end)


def test_export_rejects_other_checkpoint(tmp_path):
    plain = tmp_path / 'backbone_only.pth'
    torch.save({'state_dict': ConvNeXtV2(arch=TINY_ARCH).state_dict()}, plain)
    with pytest.raises(ValueError, match='not an FCMAE checkpoint'):
        export_backbone(plain, tmp_path / 'out.pth')
    assert not (tmp_path / 'out.pth').exists()


def test_kill_and_resume_continues_run(image_folder, tmp_path):
    work_dir = tmp_path / 'work_dir'
    # Twice the usual steps, so that the kill lands well before the end.
    steps = 2 * MAX_ITERS
    options = (f'train_cfg.max_iters={steps}',)
    command = [sys.executable, *pretrain_command(work_dir, image_folder, *options)]
    with open(tmp_path / 'killed_run.log', 'w') as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        # mmengine writes last_checkpoint right after saving a checkpoint.
        marker = work_dir / 'last_checkpoint'
        deadline = time.monotonic() + 600
        while not marker.is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()  # SIGKILL: no chance to clean up, like the out-of-memory killer
        process.wait()
    killed_at = int(Path(marker.read_text().strip()).stem.split('_')[1])
    assert killed_at < steps, 'the run finished before it could be killed'

    run_tool(*pretrain_command(work_dir, image_folder, *options), '--resume')

    _, resumed_run = run_scalars(work_dir)
    assert resumed_run[0]['step'] == killed_at + 1
    assert resumed_run[-1]['step'] == steps
    final = read_checkpoint(work_dir / f'iter_{steps}.pth')
    adam_steps = {float(state['step']) for state in final['optimizer']['state'].values()}
    # AdamW counted every step of both runs: its state was restored, not restarted.
    assert adam_steps == {float(steps)}
    assert final['meta']['iter'] == steps


def test_nonfinite_loss_stops_and_keeps_last_checkpoint(image_folder, tmp_path):
    work_dir = tmp_path / 'work_dir'
    # An absurd learning rate makes the weights overflow after the first step.
    result = run_tool(*pretrain_command(work_dir, image_folder, 'optim_wrapper.optimizer.lr=1e30',
                                        'default_hooks.checkpoint.interval=1'),
                      expect_code=1)
    output = result.stdout + result.stderr
    assert 'Training stopped at iteration' in output
    saved = sorted(int(path.stem.split('_')[1]) for path in work_dir.glob('iter_*.pth'))
    stopped_at = int(output.split('Training stopped at iteration ')[1].split(':')[0])
    assert saved == list(range(1, stopped_at))
    assert f'The last good checkpoint is {work_dir / f"iter_{stopped_at - 1}.pth"}' in output
    assert not (work_dir / 'backbone.pth').exists()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_torchrun_two_cpu_processes(image_folder, tmp_path):
    work_dir = tmp_path / 'work_dir'
    command = ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr',
               '127.0.0.1', '--master_port', str(free_port()),
               *pretrain_command(work_dir, image_folder, 'train_cfg.max_iters=4'),
               '--launcher', 'pytorch']
    run_tool(*command)
    log = run_log(work_dir)
    assert 'Distributed training: True' in log
    # mmengine reports the world size as the GPU number, also for CPU processes.
    assert 'GPU number: 2' in log
    records = run_scalars(work_dir)[0]
    assert [record['step'] for record in records] == [1, 2, 3, 4]
    # Throughput counts both processes: 2 x 4 images per iteration.
    last = records[-1]
    assert last['images_per_s'] * last['time'] == pytest.approx(8, rel=1e-3)
    assert (work_dir / 'backbone.pth').is_file()
