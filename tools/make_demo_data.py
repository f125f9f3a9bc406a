"""Build the small demo data sets in demo/data from the full data sets.

Three subsets are written, each beside a verbatim copy of its source README
(``SOURCE.md``):

* ``balloon/``: COCO instance segmentation, images scaled to a long side of
  512 px and the annotations scaled with them;
* ``camvid_mini/``: MMSegmentation layout, images and label maps at 240x180;
* ``hymenoptera/``: torchvision ImageFolder layout, shorter side 160 px.

Selection is deterministic: files are sorted by name and the picks are evenly
spaced over the sorted list, so every part of a split (for example each CamVid
video sequence) is represented. There is no randomness, and a re-run with the
same Pillow version writes the same bytes.

Usage, from the repository root::

    python tools/make_demo_data.py --src ../shared/data --dst demo/data
"""
import argparse
import json
import re
import shutil
from pathlib import Path

from PIL import Image

BALLOON_COUNTS = {'train': 16, 'val': 6}
BALLOON_LONG_SIDE = 512
BALLOON_JPEG_QUALITY = 90

CAMVID_COUNTS = {'train': 32, 'val': 12}
CAMVID_SIZE = (240, 180)  # (width, height)
CAMVID_LABEL_VALUES = set(range(11)) | {255}

HYMENOPTERA_COUNTS = {'train': 24, 'val': 12}  # images per class
HYMENOPTERA_CLASSES = ('ants', 'bees')
HYMENOPTERA_SHORT_SIDE = 160
HYMENOPTERA_JPEG_QUALITY = 88

# File names that need no quoting in a shell.
SHELL_SAFE_NAME = re.compile(r'[A-Za-z0-9._-]+')

SUBSET_NAMES = ('balloon', 'camvid_mini', 'hymenoptera')


def pick_evenly(names, count, source):
    """Return ``count`` names spread evenly over the sorted ``names``.

    Pick ``i`` is the middle element of the ``i``-th of ``count`` equal
    slices, so the first and last slices are represented alike. ``source``
    names the folder or list in the error message.
    """
    names = sorted(names)
    if count > len(names):
        raise ValueError(
            f'{source}: found {len(names)} files but {count} are needed; '
            'check that --src points at the full data sets')
    return [names[(2 * i + 1) * len(names) // (2 * count)] for i in range(count)]


def save_jpeg(image, path, quality):
    # No exif/icc_profile arguments, so the file carries no metadata.
    image.save(path, 'JPEG', quality=quality, optimize=True)


def polygon_area(coords):
    """Return the area of a flat ``[x1, y1, x2, y2, ...]`` polygon (shoelace)."""
    xs = coords[0::2]
    ys = coords[1::2]
    twice_area = 0.0
    for i in range(len(xs)):
        j = (i + 1) % len(xs)
        twice_area += xs[i] * ys[j] - xs[j] * ys[i]
    return abs(twice_area) / 2.0


def scale_polygon(coords, scale_x, scale_y, width, height):
    """Scale a flat polygon and clip it to ``[0, width] x [0, height]``."""
    scaled = []
    for x, y in zip(coords[0::2], coords[1::2]):
        scaled.append(round(min(max(x * scale_x, 0.0), width), 2))
        scaled.append(round(min(max(y * scale_y, 0.0), height), 2))
    return scaled


def polygons_bbox(polygons):
    """Return the tight COCO ``[x, y, w, h]`` box around all polygons."""
    xs = [x for polygon in polygons for x in polygon[0::2]]
    ys = [y for polygon in polygons for y in polygon[1::2]]
    x_min, y_min = min(xs), min(ys)
    return [x_min, y_min, round(max(xs) - x_min, 2), round(max(ys) - y_min, 2)]


def make_balloon_split(src_dir, dst_dir, count):
    """Write ``count`` downscaled balloon images and their COCO json.

    Image and annotation ids are renumbered from 1 in file-name order, as in
    the source. Returns (number of images, number of annotations).
    """
    coco = json.loads((src_dir / 'annotation_coco.json').read_text())
    images_by_name = {image['file_name']: image for image in coco['images']}
    annotations_by_image = {}
    for annotation in coco['annotations']:
        annotations_by_image.setdefault(annotation['image_id'], []).append(annotation)

    dst_dir.mkdir(parents=True)
    new_images = []
    new_annotations = []
    for file_name in pick_evenly(images_by_name, count, src_dir / 'annotation_coco.json'):
        source_image = images_by_name[file_name]
        with Image.open(src_dir / file_name) as image:
            image = image.convert('RGB')
        width, height = source_image['width'], source_image['height']
        if image.size != (width, height):
            raise ValueError(
                f'{src_dir / file_name}: image is {image.size[0]}x{image.size[1]} '
                f'but the json says {width}x{height}')

        scale = BALLOON_LONG_SIDE / max(width, height)
        new_width, new_height = round(width * scale), round(height * scale)
        image = image.resize((new_width, new_height), Image.Resampling.LANCZOS)
        save_jpeg(image, dst_dir / file_name, BALLOON_JPEG_QUALITY)

        image_id = len(new_images) + 1
        new_images.append({**source_image, 'id': image_id,
                           'width': new_width, 'height': new_height})

        # Per-axis factors map the old pixel grid exactly onto the new one,
        # although rounding the size changes the aspect ratio slightly.
        scale_x, scale_y = new_width / width, new_height / height
        for annotation in annotations_by_image.get(source_image['id'], []):
            polygons = [scale_polygon(polygon, scale_x, scale_y, new_width, new_height)
                        for polygon in annotation['segmentation']]
            new_annotations.append({
                **annotation,
                'id': len(new_annotations) + 1,
                'image_id': image_id,
                'segmentation': polygons,
                'bbox': polygons_bbox(polygons),
                'area': round(sum(polygon_area(p) for p in polygons), 2),
            })

    new_coco = {**coco, 'images': new_images, 'annotations': new_annotations}
    new_coco['info'] = {
        **coco['info'],
        'description': (f"{coco['info']['description']}; demo subset, "
                        f'long side scaled to {BALLOON_LONG_SIDE} px'),
    }
    (dst_dir / 'annotation_coco.json').write_text(json.dumps(new_coco))
    return len(new_images), len(new_annotations)


def make_balloon(src, dst):
    for split, count in BALLOON_COUNTS.items():
        n_images, n_annotations = make_balloon_split(src / split, dst / split, count)
        print(f'balloon/{split}: {n_images} images, {n_annotations} annotations')


def make_camvid(src, dst):
    shutil.copyfile(src / 'classes.txt', dst / 'classes.txt')
    for split, count in CAMVID_COUNTS.items():
        names = (src / f'{split}.txt').read_text().split()
        selected = pick_evenly(names, count, src / f'{split}.txt')
        image_dir = dst / 'img_dir' / split
        label_dir = dst / 'ann_dir' / split
        image_dir.mkdir(parents=True)
        label_dir.mkdir(parents=True)
        for name in selected:
            with Image.open(src / 'img_dir' / split / f'{name}.png') as image:
                image = image.convert('RGB')
            # BOX averages the source pixels that fall in each output pixel.
            image.resize(CAMVID_SIZE, Image.Resampling.BOX).save(
                image_dir / f'{name}.png', optimize=True)

            label_path = src / 'ann_dir' / split / f'{name}.png'
            with Image.open(label_path) as label:
                label.load()
            if label.mode != 'L':
                raise ValueError(
                    f'{label_path}: invalid label mode {label.mode}, expected L')
            # NEAREST copies source values, so no value outside the class ids
            # and 255 can appear.
            label = label.resize(CAMVID_SIZE, Image.Resampling.NEAREST)
            values = {value for _, value in label.getcolors()}
            if not values <= CAMVID_LABEL_VALUES:
                invalid = sorted(values - CAMVID_LABEL_VALUES)
                raise ValueError(
                    f'{label_path}: invalid label values {invalid}, '
                    'expected 0..10 and 255')
            label.save(label_dir / f'{name}.png', optimize=True)
        (dst / f'{split}.txt').write_text(''.join(f'{name}\n' for name in selected))
        print(f'camvid_mini/{split}: {len(selected)} images and label maps')


def make_hymenoptera(src, dst):
    for split, count in HYMENOPTERA_COUNTS.items():
        for class_name in HYMENOPTERA_CLASSES:
            class_dir = src / split / class_name
            names = [path.name for path in class_dir.glob('*.jpg')
                     if SHELL_SAFE_NAME.fullmatch(path.name)]
            out_dir = dst / split / class_name
            out_dir.mkdir(parents=True)
            for name in pick_evenly(names, count, class_dir):
                with Image.open(class_dir / name) as image:
                    image = image.convert('RGB')
                scale = HYMENOPTERA_SHORT_SIDE / min(image.size)
                # Never upscale: smaller images keep their size.
                if scale < 1:
                    size = (round(image.width * scale), round(image.height * scale))
                    image = image.resize(size, Image.Resampling.LANCZOS)
                save_jpeg(image, out_dir / name, HYMENOPTERA_JPEG_QUALITY)
            print(f'hymenoptera/{split}/{class_name}: {count} images')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--src', type=Path, default=Path('../shared/data'),
                        help='folder with the full balloon/, camvid_mini/ and '
                             'hymenoptera/ data sets (default: %(default)s)')
    parser.add_argument('--dst', type=Path, default=Path('demo/data'),
                        help='output folder (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='delete and rewrite subset folders that already exist '
                             'in --dst (files directly in --dst are kept)')
    return parser.parse_args()


def main():
    args = parse_args()
    makers = {'balloon': make_balloon, 'camvid_mini': make_camvid,
              'hymenoptera': make_hymenoptera}

    for name in SUBSET_NAMES:
        if not (args.src / name / 'README.md').is_file():
            raise SystemExit(f'{args.src / name}/README.md not found: '
                             'point --src at the folder with the full data sets')
        out_dir = args.dst / name
        if out_dir.exists() and not args.overwrite:
            raise SystemExit(f'{out_dir} already exists: pass --overwrite to rebuild it')

    for name in SUBSET_NAMES:
        out_dir = args.dst / name
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        shutil.copyfile(args.src / name / 'README.md', out_dir / 'SOURCE.md')
        makers[name](args.src / name, out_dir)

    total = sum(path.stat().st_size for path in args.dst.rglob('*') if path.is_file())
    print(f'{args.dst}: {total:,} bytes in all')


if __name__ == '__main__':
    main()
