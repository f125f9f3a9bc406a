"""Pretrain a ConvNeXt V2 encoder with FCMAE on a folder of images.

Example:
    python tools/pretrain.py configs/fcmae/convnextv2-atto_fcmae_demo.py
    torchrun --nproc_per_node 2 tools/pretrain.py CONFIG --launcher pytorch

The backbone weights are written to <work dir>/backbone.pth at the end;
tools/export_backbone.py writes them from any intermediate checkpoint.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnx2_backbone import runtime  # noqa: E402
from cnx2_backbone.engine.hooks import NonFiniteLossError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='FCMAE config file, e.g. configs/fcmae/*.py')
    runtime.add_runner_args(parser)
    runtime.add_resume_arg(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = runtime.build_config(args.config, args)
    try:
        runtime.train(cfg)
    except NonFiniteLossError:
        # NonFiniteLossHook has logged the iteration and the last good checkpoint.
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
