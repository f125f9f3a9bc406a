"""Time an FCMAE training step with masking against the same step without it.

Example:
    python tools/benchmark_fcmae.py --archs atto tiny --write BENCHMARKS.md

Prints one line per arch; --write also puts the table into the FCMAE section
of the given Markdown file, leaving the rest of the file unchanged.
"""
import argparse
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
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s choice)')
    parser.add_argument('--write', metavar='MARKDOWN', help='update this file, e.g. BENCHMARKS.md')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    timings = []
    for arch in args.archs:
        timing = time_training_steps(arch, args.mask_ratio, args.batch_size, args.size,
                                     args.steps, args.warmup)
        timings.append(timing)
        print(f'{arch}: masked/unmasked step time {timing.ratio:.3f} (wall clock), '
              f'{timing.cpu_ratio:.3f} (CPU time)')
    if args.write:
        command = 'python tools/benchmark_fcmae.py ' + shlex.join(sys.argv[1:] if argv is None
                                                                  else argv)
        write_section(Path(args.write),
                      format_section(timings, command.strip(), args.batch_size, args.size))


if __name__ == '__main__':
    main()
