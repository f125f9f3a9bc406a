"""Evaluate a checkpoint with any config of this repository.

Example:
    python tools/test.py CONFIG work_dirs/NAME/iter_200.pth
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnx2_backbone import runtime  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint written by tools/train.py')
    runtime.add_runner_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = runtime.build_config(args.config, args)
    runtime.test(cfg, args.checkpoint)


if __name__ == '__main__':
    main()
