"""Write the ConvNeXt V2 backbone weights of an FCMAE pretraining checkpoint.

Example:
    python tools/export_backbone.py work_dirs/fcmae_demo/iter_300.pth backbone.pth

The output loads with init_cfg=dict(type='Pretrained', checkpoint=OUT) in
ConvNeXtV2 (mmdet, mmseg) and ConvNeXtV2Classifier configs.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnx2_backbone.models.fcmae_export import export_backbone  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='checkpoint written by tools/pretrain.py')
    parser.add_argument('out', help='output file for the backbone weights (.pth)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    export_backbone(args.checkpoint, args.out)


if __name__ == '__main__':
    main()
