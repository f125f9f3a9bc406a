# Mask R-CNN with FPN and a ConvNeXt V2 backbone for mmdet 3.x.
#
# Everything but the backbone comes from mmdet's own Mask R-CNN base. Its
# data preprocessor normalizes with the ImageNet mean and std in RGB order,
# as ConvNeXt V2 was pretrained. FPN has 256 channels and 5 levels, and the
# RPN and RoI heads keep their train/test settings and 80 COCO classes.
# Size configs set ``arch``, ``drop_path_rate``, the FPN ``in_channels`` and
# ``init_cfg``.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']

# Registers the backbone and the layer-decay optimizer constructor, so that
# their scoped names resolve before the Runner builds anything, also when the
# config is run by mmdet's own tools.
custom_imports = dict(
    imports=['cnx2_backbone', 'cnx2_backbone.engine'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        # The ResNet keys of the base (depth, norm_eval, style) do not apply.
        _delete_=True,
        type='cnx2_backbone.ConvNeXtV2',
        arch='tiny',
        # FPN takes all four stages (strides 4, 8, 16, 32).
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        # Nothing frozen: layer-wise lr decay already keeps the early layers
        # close to their pretrained values.
        frozen_stages=-1
        # No init_cfg (random weights) here: a None could not be overridden by
        # the dict(type='Pretrained', checkpoint=PATH or URL) of size configs.
        # That goes through the layout-detecting loader, which accepts FCMAE,
        # fine-tuned and exported backbone checkpoints.
    ),
    # The widths of the four tiny stages.
    neck=dict(in_channels=[96, 192, 384, 768]))
