# UperNet + ConvNeXt V2-L fine-tuned from FCMAE weights on ADE20K.
# Same recipe as the tiny config (batch 16, AdamW 1e-4, 160k iterations,
# --amp for mixed precision); only the size-dependent values change here.
_base_ = ['./convnextv2-tiny_upernet_8xb2-160k_ade20k-512x512.py']

checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_large_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    backbone=dict(
        arch='large',
        # Same 36 blocks as base but 1.5x wider (about 2.2x the parameters):
        # more stochastic depth than base's 0.3.
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))

# 36 blocks as in base: 0.95 per block leaves the stem at 0.15 x lr.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95))
