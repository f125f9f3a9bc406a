# UperNet with a ConvNeXt V2 backbone for mmseg 1.x.
#
# Everything but the backbone comes from mmseg's own UperNet base: the
# ImageNet mean/std data preprocessor, UPerHead on all four strides and the
# FCN auxiliary head on stride 16. Size configs set ``arch``, the heads'
# ``in_channels`` and ``init_cfg``.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

# Registers the backbone, the CamVid dataset and the layer-decay optimizer
# constructor, so that their scoped names resolve before the Runner builds
# anything.
custom_imports = dict(
    imports=['cnx2_backbone', 'cnx2_backbone.datasets', 'cnx2_backbone.engine'],
    allow_failed_imports=False)

model = dict(
    # The ResNet base loads OpenMMLab's ResNet-50 V1c weights through this
    # key. ConvNeXt V2 weights come from the backbone's own init_cfg instead.
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='cnx2_backbone.ConvNeXtV2',
        arch='tiny',
        # UperNet fuses the features of all four strides (4, 8, 16, 32).
        out_indices=(0, 1, 2, 3),
        # No init_cfg here. Child configs add
        # init_cfg=dict(type='Pretrained', checkpoint=PATH_OR_URL).
        drop_path_rate=0.2),
    # Widths of tiny. Stage 2 (stride 16) feeds the auxiliary head.
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
