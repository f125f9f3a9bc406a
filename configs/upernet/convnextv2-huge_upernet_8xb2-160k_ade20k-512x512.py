# UperNet + ConvNeXt V2-H fine-tuned from FCMAE weights on ADE20K.
# Same recipe as the tiny config (batch 16, AdamW 1e-4, 160k iterations,
# --amp for mixed precision); only the size-dependent values change here.
_base_ = ['./convnextv2-tiny_upernet_8xb2-160k_ade20k-512x512.py']

checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_huge_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    backbone=dict(
        arch='huge',
        # The widest model (650M parameters) overfits most easily.
        drop_path_rate=0.5,
        # Recomputes each block in the backward pass instead of storing its
        # activations: slower steps, but far less memory for the 2816-channel
        # last stage at 512x512. Set False on GPUs with memory to spare.
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[352, 704, 1408, 2816]),
    auxiliary_head=dict(in_channels=1408))

# 36 blocks as in base: 0.95 per block leaves the stem at 0.15 x lr.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95))
