"""Run the whole pipeline on the bundled real data and summarize it.

Stages, each a set of the repository's own tools run as subprocesses:

1. pretrain: FCMAE pretraining of atto on the bundled photos, backbone
   export and a reconstruction grid;
2. detection: Mask R-CNN on balloon from that export, COCO evaluation and
   drawn predictions;
3. segmentation: UperNet on the CamVid subset from that export, mIoU and
   colour overlays;
4. classification: fine-tuning on ants/bees from that export, then
   tools/classify.py on a few validation images.

A failed stage is named with its log, and the stages that do not need it
still run. Results, logs and pictures go to work_dirs/demo/ (or --work-dir).

Example:
    python tools/demo.py                 # default budget, about 20 minutes on 2 cores
    python tools/demo.py --budget long   # the configs' own schedules, as in BENCHMARKS.md
"""
import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]

# Iterations per stage for each budget; None keeps the config's own schedule,
# the one behind the real-data results in BENCHMARKS.md. NOTE: 'short' is
# sized from per-step times measured on a shared 2-core machine to take about
# 20 minutes on an idle one; that total is an estimate.
BUDGETS: Dict[str, Dict[str, Optional[int]]] = {
    'tiny': dict(pretrain=2, detection=2, segmentation=2, classification=2),
    'short': dict(pretrain=150, detection=100, segmentation=120, classification=60),
    'long': dict(pretrain=None, detection=None, segmentation=None, classification=None),
}

CONFIGS = dict(
    pretrain='configs/fcmae/convnextv2-atto_fcmae_demo.py',
    detection='configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon.py',
    segmentation='configs/upernet/convnextv2-atto_upernet_fcmae-ft_camvid-mini.py',
    classification='configs/classification/convnextv2-atto_fcmae-ft_hymenoptera.py',
)

# Lines of the tools' output echoed to the terminal as progress.
PROGRESS = re.compile(r'(Iter|Epoch)\((train|val|test)\)|coco/|mIoU|accuracy/|Traceback|Error'
                      r'|\.(jpg|png): ')


@dataclass
class Stage:
    """One pipeline stage: commands run in order, the stage it needs, its metrics."""
    name: str
    commands: List[List[str]]
    needs: Sequence[str] = ()
    read_metrics: Callable[[], Dict[str, float]] = dict
    status: str = 'not run'
    seconds: float = 0.0
    metrics: Dict[str, float] = field(default_factory=dict)
    log: Optional[Path] = None


def scaled_config(config: str, iters: Optional[int], out: Path, overrides: dict) -> str:
    """Write ``config`` with ``overrides`` and its schedule stretched to ``iters`` to ``out``."""
    sys.path.insert(0, str(REPO_ROOT))
    from mmengine.config import Config

    cfg = Config.fromfile(str(REPO_ROOT / config))
    cfg.merge_from_dict(overrides)
    if iters is not None:
        old_iters = cfg.train_cfg.max_iters
        ratio = iters / old_iters
        cfg.train_cfg.max_iters = iters
        if 'val_interval' in cfg.train_cfg:
            cfg.train_cfg.val_interval = iters
        schedulers = cfg.get('param_scheduler') or []
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            begin = round(scheduler.get('begin', 0) * ratio)
            end = max(begin + 1, round(scheduler.get('end', old_iters) * ratio))
            scheduler.begin, scheduler.end = begin, end
            if 'T_max' in scheduler:
                scheduler.T_max = end - begin
        hooks = cfg.default_hooks
        if 'checkpoint' in hooks:
            hooks.checkpoint.interval = iters
        if 'logger' in hooks:
            hooks.logger.interval = max(1, min(hooks.logger.get('interval', 10), iters // 10))
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(out))
    return str(out)


def last_scalars(work_dir: Path, key: str) -> Optional[dict]:
    """Return the last entry with ``key`` in the newest scalars.json under ``work_dir``."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    for path in reversed(files):
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        matching = [entry for entry in entries if key in entry]
        if matching:
            return matching[-1]
    return None


def metrics_reader(work_dir: Path, keys: Sequence[str]) -> Callable[[], Dict[str, float]]:
    def read() -> Dict[str, float]:
        values = {}
        for key in keys:
            entry = last_scalars(work_dir, key)
            if entry is not None:
                values[key] = float(entry[key])
        return values
    return read


def pretrain_metrics(work_dir: Path) -> Callable[[], Dict[str, float]]:
    def read() -> Dict[str, float]:
        files = sorted(work_dir.glob('*/vis_data/scalars.json'))
        if not files:
            return {}
        losses = [json.loads(line)['loss'] for line in files[-1].read_text().splitlines()
                  if '"loss"' in line]
        return {'first logged loss': losses[0], 'last logged loss': losses[-1]} if losses else {}
    return read


def latest_checkpoint(work_dir: Path) -> str:
    """Return the path that mmengine's ``last_checkpoint`` file names in ``work_dir``."""
    marker = work_dir / 'last_checkpoint'
    return marker.read_text().strip() if marker.exists() else str(work_dir / 'missing.pth')


def sample_images(folder: Path, count: int) -> List[str]:
    images = sorted(p for p in folder.rglob('*') if p.suffix.lower() in ('.jpg', '.png'))
    step = max(1, len(images) // count)
    return [str(p) for p in images[::step][:count]]


def build_stages(args: argparse.Namespace) -> List[Stage]:
    root = Path(args.work_dir)
    iters = BUDGETS[args.budget]
    python = sys.executable
    data = REPO_ROOT / 'demo' / 'data'
    pictures = root / 'pictures'
    dirs = {name: root / name for name in CONFIGS}
    export = dirs['pretrain'] / 'backbone.pth'

    def config(name: str, overrides: dict) -> str:
        return scaled_config(CONFIGS[name], iters[name], root / 'configs' / f'{name}.py',
                             overrides)

    init_from_export = dict(type='Pretrained', checkpoint=str(export))
    stages = [
        Stage('pretrain', [
            [python, 'tools/pretrain.py', lambda: config('pretrain', {}),
             '--work-dir', str(dirs['pretrain'])],
            [python, 'tools/visualize_fcmae.py', lambda: latest_checkpoint(dirs['pretrain']),
             *sample_images(data / 'hymenoptera' / 'val', 4),
             '--out', str(pictures / 'fcmae_reconstruction.png')],
        ], read_metrics=pretrain_metrics(dirs['pretrain'])),
        Stage('detection', [
            [python, 'tools/train.py',
             lambda: config('detection', {'model.backbone.init_cfg': init_from_export}),
             '--work-dir', str(dirs['detection'])],
            [python, 'tools/infer.py', str(root / 'configs' / 'detection.py'),
             lambda: latest_checkpoint(dirs['detection']),
             *sample_images(data / 'balloon' / 'val', 2), '--out', str(pictures / 'detection')],
        ], needs=('pretrain',),
            read_metrics=metrics_reader(dirs['detection'], ['coco/bbox_mAP', 'coco/segm_mAP'])),
        Stage('segmentation', [
            [python, 'tools/train.py',
             lambda: config('segmentation', {'model.backbone.init_cfg': init_from_export}),
             '--work-dir', str(dirs['segmentation'])],
            [python, 'tools/infer.py', str(root / 'configs' / 'segmentation.py'),
             lambda: latest_checkpoint(dirs['segmentation']),
             *sample_images(data / 'camvid_mini' / 'img_dir' / 'val', 2),
             '--out', str(pictures / 'segmentation')],
        ], needs=('pretrain',),
            read_metrics=metrics_reader(dirs['segmentation'], ['mIoU', 'aAcc'])),
        Stage('classification', [
            [python, 'tools/train.py',
             lambda: config('classification', {'model.classifier.init_cfg': init_from_export}),
             '--work-dir', str(dirs['classification'])],
            [python, 'tools/classify.py', lambda: latest_checkpoint(dirs['classification']),
             *sample_images(data / 'hymenoptera' / 'val', 4),
             '--json', str(pictures / 'classify.json')],
        ], needs=('pretrain',),
            read_metrics=metrics_reader(dirs['classification'], ['accuracy/top1'])),
    ]
    return [stage for stage in stages if stage.name in args.stages]


def run_command(command: List, log_file, stage: str) -> int:
    """Run one command, append its output to ``log_file`` and echo progress lines."""
    resolved = [part() if callable(part) else part for part in command]
    log_file.write(f'$ {" ".join(resolved)}\n')
    log_file.flush()
    process = subprocess.Popen(resolved, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in process.stdout:
        log_file.write(line)
        if PROGRESS.search(line):
            print(f'[{stage}] {line.rstrip()[-150:]}', flush=True)
    return process.wait()


def run_stage(stage: Stage, finished: Dict[str, Stage], logs: Path) -> None:
    blocked = [name for name in stage.needs
               if name in finished and finished[name].status != 'ok']
    if blocked:
        stage.status = f'skipped: needs {", ".join(blocked)}'
        print(f'== {stage.name}: {stage.status}', flush=True)
        return
    stage.log = logs / f'{stage.name}.log'
    print(f'== {stage.name}: started, log {stage.log}', flush=True)
    start = time.perf_counter()
    with open(stage.log, 'w') as log_file:
        for command in stage.commands:
            try:
                returncode = run_command(command, log_file, stage.name)
            except (OSError, ValueError, KeyError) as error:
                log_file.write(f'{type(error).__name__}: {error}\n')
                returncode = -1
            if returncode != 0:
                stage.status = f'FAILED (exit {returncode})'
                break
        else:
            stage.status = 'ok'
    stage.seconds = time.perf_counter() - start
    try:
        stage.metrics = stage.read_metrics()
    except (OSError, ValueError, KeyError) as error:
        stage.metrics = {}
        print(f'[{stage.name}] could not read metrics: {error}', flush=True)
    if stage.status == 'ok':
        print(f'== {stage.name}: ok in {stage.seconds / 60:.1f} min', flush=True)
    else:
        print(f'== {stage.name}: {stage.status}; see {stage.log}', flush=True)


def summary_table(stages: List[Stage], budget: str) -> str:
    lines = [f'# Demo summary (budget: {budget})', '',
             '| stage | status | minutes | metrics | log |', '|---|---|---|---|---|']
    for stage in stages:
        metrics = ', '.join(f'{k} {v:.4g}' for k, v in stage.metrics.items()) or '-'
        log = str(stage.log) if stage.log else '-'
        lines.append(f'| {stage.name} | {stage.status} | {stage.seconds / 60:.1f} | '
                     f'{metrics} | {log} |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--budget', choices=sorted(BUDGETS), default='short',
                        help='iterations per stage: tiny (smoke test), short (the default, '
                        'about 20 minutes on 2 idle cores) or long (the configs\' own schedules)')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='folder for results, logs and pictures (default: work_dirs/demo)')
    parser.add_argument('--stages', nargs='+', choices=list(CONFIGS), default=list(CONFIGS),
                        help='run only these stages (default: all)')
    args = parser.parse_args(argv)
    args.work_dir = str(Path(args.work_dir).resolve())

    logs = Path(args.work_dir) / 'logs'
    logs.mkdir(parents=True, exist_ok=True)
    (Path(args.work_dir) / 'pictures').mkdir(exist_ok=True)
    stages = build_stages(args)
    finished: Dict[str, Stage] = {}
    for stage in stages:
        run_stage(stage, finished, logs)
        finished[stage.name] = stage

    table = summary_table(stages, args.budget)
    summary = Path(args.work_dir) / 'summary.md'
    summary.write_text(table + '\n\nPictures: ' + str(Path(args.work_dir) / 'pictures') + '\n')
    print('\n' + table)
    print(f'\nSummary: {summary}\nPictures: {Path(args.work_dir) / "pictures"}')
    return 0 if all(stage.status == 'ok' for stage in stages) else 1


if __name__ == '__main__':
    sys.exit(main())
