"""Draw FCMAE reconstructions: original, masked input, reconstruction, reconstruction + visible.

Example:
    python tools/visualize_fcmae.py work_dirs/fcmae_demo/iter_300.pth \
        demo/data/hymenoptera/val/bees/*.jpg --out grid.png

Each image is resized (shorter side) and center-cropped to --size, masked at
random with the checkpoint's mask ratio, and drawn as one row of the grid.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnx2_backbone.models.fcmae_visualize import visualize_reconstructions  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='checkpoint written by tools/pretrain.py')
    parser.add_argument('images', nargs='+', help='image files, one grid row each')
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument('--size', type=int, default=224,
                        help='side of the square crop in pixels, a multiple of 32 (default 224)')
    parser.add_argument('--mask-ratio', type=float, default=None,
                        help='fraction of patches to hide (default: the training value)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    visualize_reconstructions(args.checkpoint, args.images, args.out, size=args.size,
                              mask_ratio=args.mask_ratio, seed=args.seed)


if __name__ == '__main__':
    main()
