"""Train any config of this repository (mmdet, mmseg, classification or FCMAE).

Example:
    python tools/train.py configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon.py
    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnx2_backbone import runtime  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path')
    runtime.add_runner_args(parser)
    runtime.add_resume_arg(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = runtime.build_config(args.config, args)
    runtime.train(cfg)


if __name__ == '__main__':
    main()
