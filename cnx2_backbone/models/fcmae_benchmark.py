"""Measure what masking saves: an FCMAE training step at mask ratio r against ratio 0.

A step is what the Runner does per iteration: ``forward(mode='loss')``,
backward and an AdamW update, on random images (no data loading). Timed
steps alternate between the masked and the unmasked model, so that load
from other processes affects both.
"""
import os
import platform
import statistics
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from .fcmae import FCMAE

# The FCMAE section of BENCHMARKS.md, and the part of it this module rewrites.
SECTION_START = '<!-- fcmae:start -->'
SECTION_END = '<!-- fcmae:end -->'
STEP_COST_START = '<!-- fcmae-step-cost:start -->'
STEP_COST_END = '<!-- fcmae-step-cost:end -->'


@dataclass
class StepTiming:
    """Step times of one arch, in seconds.

    Attributes:
        arch (str): Encoder arch.
        threads (int): torch threads during the measurement.
        mask_ratio (float): Ratio of the masked model.
        masked (list[float]): Wall-clock seconds of each step at ``mask_ratio``.
        dense (list[float]): Wall-clock seconds of each step at ratio 0.
        masked_cpu (list[float]): CPU seconds of this process per masked step.
        dense_cpu (list[float]): CPU seconds of this process per step at ratio 0.
    """

    arch: str
    threads: int
    mask_ratio: float
    masked: List[float]
    dense: List[float]
    masked_cpu: List[float]
    dense_cpu: List[float]

    @property
    def ratio(self) -> float:
        """Median masked step time over median unmasked step time (wall clock)."""
        return statistics.median(self.masked) / statistics.median(self.dense)

    @property
    def cpu_ratio(self) -> float:
        """The same ratio in CPU time, which other processes on the machine disturb less."""
        return statistics.median(self.masked_cpu) / statistics.median(self.dense_cpu)


def time_training_steps(arch: str, mask_ratio: float = 0.6, batch_size: int = 8,
                        image_size: int = 224, steps: int = 10,
                        warmup_steps: int = 2) -> StepTiming:
    """Time ``steps`` training steps of FCMAE(arch) at ``mask_ratio`` and at ratio 0.

    Both models start from the same weights and see the same images.
    """
    torch.manual_seed(0)
    masked_model = FCMAE(arch=arch, mask_ratio=mask_ratio)
    dense_model = FCMAE(arch=arch, mask_ratio=0.0)
    dense_model.load_state_dict(masked_model.state_dict())
    models = {'masked': masked_model.train(), 'dense': dense_model.train()}
    # The optimizer of the FCMAE configs.
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95),
                                          weight_decay=0.05, fused=True)
                  for name, model in models.items()}
    images = torch.randn(batch_size, 3, image_size, image_size)

    wall: Dict[str, List[float]] = {'masked': [], 'dense': []}
    cpu: Dict[str, List[float]] = {'masked': [], 'dense': []}
    for step in range(warmup_steps + steps):
        for name, model in models.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            loss = model(images, mode='loss')['loss']
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
            if step >= warmup_steps:
                wall[name].append(time.perf_counter() - wall_start)
                cpu[name].append(time.process_time() - cpu_start)
    return StepTiming(arch, torch.get_num_threads(), mask_ratio, wall['masked'], wall['dense'],
                      cpu['masked'], cpu['dense'])


def cpu_model_name() -> str:
    """Return the CPU model from ``lscpu``, or ``platform.processor()`` without it."""
    try:
        output = subprocess.run(['lscpu'], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or 'unknown CPU'
    for line in output.splitlines():
        if line.startswith('Model name:'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def format_section(timings: Sequence[StepTiming], command: str, batch_size: int,
                   image_size: int) -> str:
    """Render the step-cost part of the FCMAE section, its markers included."""
    load = ', '.join(f'{value:.1f}' for value in os.getloadavg())
    paragraphs = [
        'One FCMAE training step (forward with the loss, backward, AdamW update) at mask '
        f'ratio {timings[0].mask_ratio}, against the same step with nothing masked. '
        f'Random {image_size}x{image_size} images, batch {batch_size}, no data loading; '
        'the medians of alternating timed steps after warm-up. The masked encoder still '
        'runs its 7x7 depthwise convolutions and the decoder on every position, so the '
        f'ratio stays above the visible fraction of {1 - timings[0].mask_ratio:.1f}.',
        f'Command: `{command}`',
        f'Machine: {cpu_model_name()}, {os.cpu_count()} logical CPUs, torch '
        f'{torch.__version__}, Python {platform.python_version()}. Load average (1, 5, 15 '
        f'minutes) at the end: {load}. Other processes share the machine; with more torch '
        'threads than idle cores, OpenMP threads that spin while they wait make every step '
        'several times slower unless OMP_WAIT_POLICY=PASSIVE is set.',
    ]
    lines = [STEP_COST_START, '### Cost of a masked training step', '']
    for paragraph in paragraphs:
        # Commands stay on one line so that they can be copied.
        if paragraph.startswith('Command:'):
            lines += [paragraph, '']
        else:
            lines += [textwrap.fill(paragraph, width=79), '']
    lines += [
        '| arch | threads | steps | masked step (s) | unmasked step (s) | ratio (wall clock) '
        '| ratio (CPU time) |',
        '|---|---|---|---|---|---|---|',
    ]
    for timing in timings:
        lines.append(f'| {timing.arch} | {timing.threads} | {len(timing.masked)} | '
                     f'{statistics.median(timing.masked):.3f} | '
                     f'{statistics.median(timing.dense):.3f} | {timing.ratio:.3f} | '
                     f'{timing.cpu_ratio:.3f} |')
    lines += ['', STEP_COST_END]
    return '\n'.join(lines)


def write_section(path: Path, step_cost: str) -> None:
    """Put ``step_cost`` into the FCMAE section of ``path``, leaving everything else as it is.

    An existing step-cost part is replaced. Otherwise it goes right after
    the FCMAE section's start marker, and a file or section that does not
    exist yet is created.
    """
    text = path.read_text() if path.is_file() else '# Benchmarks\n'
    if STEP_COST_START in text and STEP_COST_END in text:
        before = text[:text.index(STEP_COST_START)]
        after = text[text.index(STEP_COST_END) + len(STEP_COST_END):]
        text = before + step_cost + after
    elif SECTION_START in text:
        insert_at = text.index(SECTION_START) + len(SECTION_START)
        text = text[:insert_at] + '\n' + step_cost + text[insert_at:]
    else:
        section = f'{SECTION_START}\n## FCMAE pretraining\n\n{step_cost}\n{SECTION_END}\n'
        text = text.rstrip('\n') + '\n\n' + section
    path.write_text(text)
