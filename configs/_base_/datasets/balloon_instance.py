# The bundled balloon subset as mmdet CocoDataset: instance segmentation,
# one class, 16 train and 6 val images with a long side of 512 px, COCO json
# with polygon masks (see demo/data/README.md).
#
# Paths are relative to the repository root: run the tools from there.
dataset_type = 'CocoDataset'
data_root = 'demo/data/balloon/'
# Without metainfo CocoDataset would expect the 80 COCO class names; the
# palette colours the class in mmdet's visualizer.
metainfo = dict(classes=('balloon',), palette=[(220, 20, 60)])
backend_args = None

# Fits the whole image into 384x384: the bundled files (long side 512) shrink
# by 0.75, which makes a CPU training step about a third cheaper than at
# full size and still leaves the smallest balloon about 6x6 pixels.
image_scale = (384, 384)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    # The only augmentation: with 16 images the flip doubles the views cheaply.
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    # After Resize, so that the ground truth keeps the original image size.
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    # 2 images per step, mmdet's per-GPU batch, which fits a CPU's memory.
    batch_size=2,
    # One loader process: the model, not JPEG decoding, is the bottleneck on
    # a few CPU cores.
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # Batches landscape with landscape images to waste less padding.
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='train/annotation_coco.json',
        data_prefix=dict(img='train/'),
        # Images without balloons stay in training as negative examples;
        # mmdet's COCO default (True) would drop them silently.
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='val/annotation_coco.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# COCO box and mask AP over IoU 0.50:0.95, computed by pycocotools.
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'val/annotation_coco.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
