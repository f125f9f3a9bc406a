"""Rewrite a ConvNeXt V2 checkpoint of any supported layout as official, timm or HF weights.

The source layout (official dense or sparse FCMAE, official fine-tuned, timm,
Hugging Face, mmpretrain, mmengine or this package) is detected from its keys.

Examples:
    python tools/convert_checkpoint.py convnextv2_tiny_1k_224_fcmae.pt tiny_fcmae.pth
    python tools/convert_checkpoint.py work_dirs/run/epoch_10.pth tiny_timm.pth --to timm
    python tools/convert_checkpoint.py hf_model_folder/ tiny.safetensors --to hf
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnx2_backbone.checkpoint import EXPORT_LAYOUTS, convert_checkpoint  # noqa: E402

CONV_MLP_CHOICES = {'auto': None, 'yes': True, 'no': False}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='checkpoint file or Hugging Face model folder')
    parser.add_argument('dst', help='output file; a .safetensors name writes safetensors')
    parser.add_argument('--to', choices=EXPORT_LAYOUTS, default='official',
                        help='layout of the output (default: official)')
    parser.add_argument('--prefix', default=None,
                        help="read only keys under this prefix, e.g. 'backbone.' "
                             '(default: detected)')
    parser.add_argument('--timm-conv-mlp', choices=sorted(CONV_MLP_CHOICES), default='auto',
                        help='with --to timm: store the MLP as 1x1 convs; auto does this for '
                             'the atto..nano widths, as timm does (default: auto)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        convert_checkpoint(args.src, args.dst, layout=args.to, prefix=args.prefix,
                           conv_mlp=CONV_MLP_CHOICES[args.timm_conv_mlp])
    except (FileNotFoundError, ImportError, ValueError) as error:
        sys.exit(f'convert_checkpoint: error: {error}')


if __name__ == '__main__':
    main()
