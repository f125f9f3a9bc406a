# ConvNeXt V2 with its native head (global average pool, LayerNorm, Linear)
# as an mmengine model. Size configs set ``arch``, ``drop_path_rate``,
# ``num_classes`` and the checkpoint in ``classifier.init_cfg``.

# Registers the model, the dataset, the metric and the layer-decay optimizer
# constructor, so that their scoped names resolve before the Runner builds
# anything.
custom_imports = dict(
    imports=['cnx2_backbone', 'cnx2_backbone.datasets', 'cnx2_backbone.engine'],
    allow_failed_imports=False)

model = dict(
    type='cnx2_backbone.ImageClassifier',
    classifier=dict(
        type='cnx2_backbone.ConvNeXtV2Classifier',
        arch='tiny',
        num_classes=1000,
        drop_path_rate=0.1,
        # The official fine-tuning code scales the freshly initialized head
        # by 0.001, so the first updates do not disturb the pretrained trunk.
        head_init_scale=0.001,
        # Size configs add init_cfg=dict(type='Pretrained', checkpoint=PATH),
        # which loads FCMAE, fine-tuned, timm, Hugging Face and exported
        # backbone checkpoints. It is left out here because mmengine cannot
        # merge a child's dict into a base value of None.
    ),
    # Normalizes the RGB uint8 images of the dataset with ImageNet mean and std.
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),
    label_smoothing=0.1,
    # Mixup/CutMix on each training batch. None turns it off.
    batch_augment=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5))
