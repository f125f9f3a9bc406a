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

from mmengine.logging import print_log  # noqa: E402

from cnx2_backbone.checkpoint import read_checkpoint, unwrap_state_dict  # noqa: E402
from cnx2_backbone.datasets.unlabeled import DECODE_ERRORS, decode_image  # noqa: E402
from cnx2_backbone.models.fcmae_visualize import (build_fcmae_from_checkpoint,  # noqa: E402
                                                  reconstruction_grid)


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
    checkpoint = read_checkpoint(args.checkpoint)
    state_dict, _ = unwrap_state_dict(checkpoint)
    model = build_fcmae_from_checkpoint(state_dict, checkpoint.get('meta'), args.mask_ratio)

    images = []
    for path in args.images:
        try:
            images.append(decode_image(path))
        except DECODE_ERRORS as error:
            raise SystemExit(f'Cannot decode image {path}: {type(error).__name__}: {error}')
    grid = reconstruction_grid(model, images, size=args.size, seed=args.seed)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    print_log(f'Wrote reconstructions of {len(images)} images (mask ratio {model.mask_ratio}) '
              f'to {out}.', logger='current')


if __name__ == '__main__':
    main()
