# UperNet + ConvNeXt V2-B fine-tuned from FCMAE weights on ADE20K.
# Same recipe as the tiny config (batch 16, AdamW 1e-4, 160k iterations,
# --amp for mixed precision); only the size-dependent values change here.
_base_ = ['./convnextv2-tiny_upernet_8xb2-160k_ade20k-512x512.py']

checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_base_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    backbone=dict(
        arch='base',
        # 36 blocks instead of 18: stronger stochastic depth than tiny's 0.2.
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))

# With 36 blocks, 0.9 per block would leave the stem at 0.9 ** 37 = 0.02 x lr;
# 0.95 gives 0.95 ** 37 = 0.15 x lr, close to tiny's 0.135.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95))
