"""Run a trained detector or segmentor on images and write the drawn results as PNGs.

mmdet configs (``default_scope='mmdet'``) draw boxes and masks with mmdet's
DetLocalVisualizer; mmseg configs draw a colour overlay of the predicted
classes with mmseg's SegLocalVisualizer. An image that is missing, cannot be
decoded or fails in the model is reported and skipped, and the exit status is
then 1.

Example, from the repository root:
    python tools/infer.py configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon.py \\
        work_dirs/mask-rcnn_convnextv2-atto_balloon/iter_300.pth \\
        demo/data/balloon/val/*.jpg --out work_dirs/infer_balloon
"""
import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

from cnx2_backbone.runtime import runner_checkpoint_loading  # noqa: E402

SCOPES = ('mmdet', 'mmseg')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file of the trained model (mmdet or mmseg)')
    parser.add_argument('checkpoint', help='checkpoint written by tools/train.py')
    parser.add_argument('images', nargs='+', metavar='IMAGE', help='image files to run on')
    parser.add_argument('--out', required=True, help='folder for the PNGs (created if missing)')
    parser.add_argument('--device', default=None,
                        help='torch device, e.g. cpu or cuda:0 (default: cuda:0 if available)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='mmdet only: draw instances with a score of at least this '
                        '(default: 0.3)')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='mmseg only: opacity of the class overlay, 0 to 1 (default: 0.5)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. model.test_cfg.rcnn.score_thr=0.5')
    args = parser.parse_args(argv)
    if not 0.0 <= args.score_thr <= 1.0:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    if not 0.0 <= args.opacity <= 1.0:
        parser.error(f'--opacity must be in [0, 1], got {args.opacity}')
    return args


def load_config(config_path: str, cfg_options: Dict) -> Config:
    """Load the config and check that its default_scope is mmdet or mmseg."""
    if not Path(config_path).is_file():
        raise FileNotFoundError(f'Config file not found: {config_path}')
    cfg = Config.fromfile(config_path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'{config_path} has default_scope={scope!r}; tools/infer.py draws '
                         f'results of {SCOPES} configs only.')
    return cfg


def strip_annotation_loading(pipeline: List[dict]) -> List[dict]:
    """Return the test pipeline without LoadAnnotations: inference has no labels."""
    return [step for step in pipeline
            if str(step.get('type', '')).split('.')[-1] != 'LoadAnnotations']


def read_image(path: str) -> np.ndarray:
    """Decode an image file to a BGR uint8 array, as the mm loaders do.

    Raises:
        FileNotFoundError: if ``path`` is not a file.
        ValueError: if the file cannot be decoded as an image.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'image not found: {path}')
    content = Path(path).read_bytes()
    if not content:
        raise ValueError(f'image file is empty: {path}')
    try:
        image = mmcv.imfrombytes(content, flag='color', channel_order='bgr')
    except cv2.error as error:
        raise ValueError(f'cannot decode {path} as an image: {error}') from error
    if image is None:
        raise ValueError(f'cannot decode {path} as an image (corrupted or not an image file)')
    return image


def build_mmdet_predictor(cfg: Config, checkpoint: str, device: str,
                          score_thr: float) -> Callable[[np.ndarray, str, str], None]:
    """Load the detector and return ``draw(image_bgr, name, out_file)``."""
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    from mmcv.transforms import Compose

    with runner_checkpoint_loading():
        model = init_detector(cfg, checkpoint, device=device)
    pipeline_cfg = strip_annotation_loading(cfg.test_dataloader.dataset.pipeline)
    # Decoded arrays enter the pipeline in place of file paths.
    pipeline_cfg[0] = dict(pipeline_cfg[0], type='mmdet.LoadImageFromNDArray')
    test_pipeline = Compose(pipeline_cfg)

    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta

    def draw(image_bgr: np.ndarray, name: str, out_file: str) -> None:
        result = inference_detector(model, image_bgr, test_pipeline=test_pipeline)
        visualizer.add_datasample(
            name, mmcv.bgr2rgb(image_bgr), data_sample=result, draw_gt=False, show=False,
            pred_score_thr=score_thr, out_file=out_file)

    return draw


def build_mmseg_predictor(cfg: Config, checkpoint: str, device: str,
                          opacity: float) -> Callable[[np.ndarray, str, str], None]:
    """Load the segmentor and return ``draw(image_bgr, name, out_file)``."""
    from mmseg.apis import inference_model, init_model
    from mmseg.registry import VISUALIZERS

    # mmseg's inference_model reads the top-level test_pipeline, which
    # configs that define only the dataloader's pipeline lack.
    cfg.test_pipeline = strip_annotation_loading(
        cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline)
    with runner_checkpoint_loading():
        model = init_model(cfg, checkpoint, device=device)

    visualizer_cfg = dict(model.cfg.get('visualizer') or dict(type='SegLocalVisualizer'))
    visualizer_cfg.update(alpha=opacity, vis_backends=[dict(type='LocalVisBackend')])
    visualizer_cfg.pop('save_dir', None)
    visualizer = VISUALIZERS.build(visualizer_cfg)
    visualizer.dataset_meta = dict(classes=model.dataset_meta['classes'],
                                   palette=model.dataset_meta['palette'])

    def draw(image_bgr: np.ndarray, name: str, out_file: str) -> None:
        result = inference_model(model, image_bgr)
        visualizer.add_datasample(
            name, mmcv.bgr2rgb(image_bgr), data_sample=result, draw_gt=False, show=False,
            out_file=out_file)

    return draw


def output_paths(images: Sequence[str], out_dir: Path) -> List[Path]:
    """Return one PNG path per image, named after it; repeated names get ``_1``, ``_2``."""
    paths, used = [], set()
    for image in images:
        stem = Path(image).stem
        name, index = f'{stem}.png', 0
        while name in used:
            index += 1
            name = f'{stem}_{index}.png'
        used.add(name)
        paths.append(out_dir / name)
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint}')
    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    if cfg.default_scope == 'mmdet':
        draw = build_mmdet_predictor(cfg, args.checkpoint, device, args.score_thr)
    else:
        draw = build_mmseg_predictor(cfg, args.checkpoint, device, args.opacity)

    failed = []
    for image_path, out_file in zip(args.images, output_paths(args.images, out_dir)):
        try:
            image = read_image(image_path)
        except (OSError, ValueError) as error:
            print_log(f'Skipped {image_path}: {error}', logger='current', level=logging.ERROR)
            failed.append(image_path)
            continue
        try:
            draw(image, Path(image_path).stem, str(out_file))
        except (RuntimeError, ValueError) as error:
            # A model error on one image (e.g. out of memory on a very large
            # one) skips only that image.
            print_log(f'Skipped {image_path}: inference failed: {error}', logger='current',
                      level=logging.ERROR)
            failed.append(image_path)
            continue
        print_log(f'Wrote {out_file}', logger='current')

    written = len(args.images) - len(failed)
    print_log(f'{written} of {len(args.images)} images written to {out_dir}', logger='current')
    if failed:
        print_log(f'{len(failed)} failed: {", ".join(failed)}', logger='current',
                  level=logging.ERROR)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
