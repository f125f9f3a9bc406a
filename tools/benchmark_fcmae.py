"""Time an FCMAE training step with masking against the same step without it.

Example:
    python tools/benchmark_fcmae.py --archs atto tiny --write BENCHMARKS.md

Prints one line per arch; --write also puts the table into the FCMAE section
of the given Markdown file, leaving the rest of the file unchanged.
"""
import argparse
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnx2_backbone.models.fcmae_benchmark import (format_section, time_training_steps,  # noqa: E402
                                                  write_section)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--archs', nargs='+', default=['atto', 'tiny'], help='encoder archs')
    parser.add_argument('--mask-ratio', type=float, default=0.6, help='ratio of the masked step')
    parser.add_argument('--batch-size', type=int, default=8, help='images per step')
    parser.add_argument('--size', type=int, default=224, help='image side in pixels')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per model')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per model first')
    parser.add_argument('--threads', type=int, nargs='+', default=None,
                        help='torch thread counts to measure in turn (default: torch\'s choice)')
    parser.add_argument('--write', metavar='MARKDOWN', help='update this file, e.g. BENCHMARKS.md')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    initial_threads = torch.get_num_threads()
    timings = []
    for threads in args.threads or [initial_threads]:
        torch.set_num_threads(threads)
        for arch in args.archs:
            timing = time_training_steps(arch, args.mask_ratio, args.batch_size, args.size,
                                         args.steps, args.warmup)
            timings.append(timing)
            print(f'{arch}, {threads} threads: masked/unmasked step time {timing.ratio:.3f} '
                  f'(wall clock), {timing.cpu_ratio:.3f} (CPU time)')
    torch.set_num_threads(initial_threads)
    if args.write:
        command = 'python tools/benchmark_fcmae.py ' + shlex.join(sys.argv[1:] if argv is None
                                                                  else argv)
        # OpenMP's wait policy changes the timings a lot on a shared machine.
        if 'OMP_WAIT_POLICY' in os.environ:
            command = f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} {command}"
        write_section(Path(args.write),
                      format_section(timings, command.strip(), args.batch_size, args.size))


if __name__ == '__main__':
    main()
