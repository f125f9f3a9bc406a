"""Print the top-k classes of images with a ConvNeXt V2 classifier checkpoint.

Each classified image gives one line on stdout,

    IMAGE: name1 0.873, name2 0.127

with the k most probable classes and their softmax probabilities, highest
first. An image that cannot be read gives ``IMAGE: error: REASON`` on
stderr and is skipped. Logs go to stderr too.

Exit status: 0 when every image was classified, 1 when any image failed,
2 for invalid arguments or a checkpoint that cannot be used.

Examples:
    python tools/classify.py work_dirs/NAME/iter_120.pth demo/data/hymenoptera/val
    python tools/classify.py convnextv2_atto_1k_224_ema.pt cat.jpg --classes imagenet_classes.txt \
        --topk 3 --json results.json
"""
import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

from cnx2_backbone import classify  # noqa: E402

EXIT_IMAGE_FAILED = 1
EXIT_INVALID = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Output format, class names and exit status: see docs/classification.md.')
    parser.add_argument('checkpoint', help='classifier checkpoint: a tools/train.py checkpoint, '
                        'an official, timm or Hugging Face file, or a Hugging Face folder')
    parser.add_argument('images', nargs='+', metavar='IMAGE_OR_FOLDER',
                        help='image files, or folders searched recursively for images')
    parser.add_argument('--topk', type=int, default=5,
                        help='number of classes printed per image (default 5, at most the '
                        'number of classes)')
    parser.add_argument('--classes', metavar='FILE',
                        help='class names, one per line in label order, overriding the '
                        'names stored with the checkpoint')
    parser.add_argument('--json', metavar='OUT',
                        help='also write every result, failures included, to this JSON file')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='images per forward pass (default 32)')
    parser.add_argument('--size', type=int, default=None,
                        help='center-crop size in pixels after resizing the shorter side to '
                        'size / 0.875 (default: the validation transforms stored in a '
                        'tools/train.py checkpoint, else 224)')
    parser.add_argument('--arch', default=None,
                        help='arch name such as atto (default: inferred from the weights)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='torch device (default: cuda when available, else cpu)')
    parser.add_argument('--log-level', default='WARNING',
                        choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'),
                        help='log level of the messages on stderr (default WARNING). INFO '
                        'shows the checkpoint load report')
    args = parser.parse_args(argv)

    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.size is not None and args.size < 32:
        parser.error(f'--size must be >= 32 (the total stride of the model), got {args.size}')
    return args


def setup_logger(level: str) -> None:
    """Create a new current mmengine logger and point its console output at stderr."""
    # A new name per call: mmengine's current logger is the latest created one.
    logger = MMLogger.get_instance(f'cnx2_classify_{time.time_ns()}', log_level=level)
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logger(args.log_level)
    try:
        loaded = classify.load_classifier(args.checkpoint, classes_file=args.classes,
                                          arch=args.arch, crop_size=args.size,
                                          device=args.device)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f'error: cannot use checkpoint {args.checkpoint}: {error}', file=sys.stderr)
        return EXIT_INVALID

    results = []
    entries = classify.collect_images(args.images)
    for result in classify.classify_images(loaded, entries, topk=args.topk,
                                           batch_size=args.batch_size):
        results.append(result)
        print(classify.format_result(result),
              file=sys.stderr if result.error is not None else sys.stdout, flush=True)

    failed = [result for result in results if result.error is not None]
    print(f'{len(results) - len(failed)} images classified, {len(failed)} failed.',
          file=sys.stderr)
    if args.json:
        output = dict(checkpoint=args.checkpoint, arch=loaded.arch, classes=loaded.classes,
                      class_source=loaded.class_source, results=[r.to_dict() for r in results])
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(output, indent=2) + '\n', encoding='utf-8')
    return EXIT_IMAGE_FAILED if failed else 0


if __name__ == '__main__':
    sys.exit(main())
