# The bundled CamVid subset (demo/data/camvid_mini): 32 train and 12 val road
# scenes at 240x180, 11 classes, void = 255.
#
# For your own data in the same layout (img_dir/ and ann_dir/ with
# {train,val} subfolders, label PNGs named like their images), change
# data_root, and the class names and palette through the dataset's metainfo.
dataset_type = 'cnx2_backbone.CamVidDataset'
# Relative to the directory the tools run from, the repository root.
data_root = 'demo/data/camvid_mini'
# Square crops of most of the 180-pixel image height. Where a rescaled image
# is smaller, the data preprocessor pads the crop to this size with void
# (255), which the loss ignores.
crop_size = (160, 160)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # Takes reduce_zero_label from the dataset, which keeps 0..10 unshifted.
    dict(type='LoadAnnotations'),
    # Scale jitter around the stored size, milder than mmseg's usual 0.5-2.0
    # range. The images are already halved from 480x360, and thin classes
    # (Pole, SignSymbol) vanish when shrunk further.
    dict(type='RandomResize', scale=(240, 180), ratio_range=(0.75, 1.5), keep_ratio=True),
    # Re-draws a crop (up to 10 times) when one class would fill more than
    # 75 % of it, so fewer crops are only road or sky.
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# Full 240x180 images, no resize, so that mIoU is measured on the stored labels.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=8,
    # Two workers decode PNGs while the main process trains; more would
    # compete with training for the CPU cores of a small machine.
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    # One image a step: images of differing sizes (in other data sets of
    # this layout) cannot be stacked into one batch.
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
# The subset has no separate test split; testing reuses val.
test_dataloader = val_dataloader

# mIoU over the 11 classes; IoUMetric ignores label 255 (void) by default.
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
