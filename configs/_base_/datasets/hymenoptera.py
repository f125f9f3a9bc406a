# The bundled ants/bees photos (demo/data/hymenoptera): 24 train and 12 val
# images per class, shorter side 160 px, one folder per class.
#
# 128 px crops: a training step of 16 images then costs atto about 3 CPU
# seconds (BENCHMARKS.md), so a hundred steps fit in minutes. The photos are
# stored at a 160 px shorter side, so validation resizes to 146 px (the
# 0.875 crop ratio of ImageNet evaluation) and center-crops 128.
data_root = 'demo/data/hymenoptera'
crop_size = 128

train_pipeline = [
    # A smaller minimum scale than ImageNet's 0.08 keeps the insect in most
    # crops of these close-ups.
    dict(type='RandomResizedCrop', size=crop_size, scale=(0.25, 1.0),
         interpolation='bicubic', antialias=True),
    dict(type='RandomHorizontalFlip', p=0.5),
]
val_pipeline = [
    dict(type='Resize', size=146, interpolation='bicubic', antialias=True),
    dict(type='CenterCrop', size=crop_size),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='cnx2_backbone.ImageFolderDataset', data_root=data_root + '/train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=24,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='cnx2_backbone.ImageFolderDataset', data_root=data_root + '/val',
                 pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader

# Two classes: top-5 is left out automatically, top-1 is reported.
val_evaluator = dict(type='cnx2_backbone.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
