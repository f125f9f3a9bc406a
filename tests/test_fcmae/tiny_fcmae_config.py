# A seconds-long variant of the FCMAE demo config for the tool tests: a tiny
# encoder, 64-pixel crops, no worker processes. Tests pass data_root and
# the work dir on the command line.
_base_ = ['../../configs/fcmae/convnextv2-atto_fcmae_demo.py']

model = dict(arch=dict(_delete_=True, depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)), decoder_dim=32)

max_iters = 6
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='RandomResizedCrop', size=64, scale=(0.2, 1.0), antialias=True),
        dict(type='RandomHorizontalFlip'),
    ]))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', T_max=max_iters - 2, eta_min=1e-5, by_epoch=False, begin=2,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=-1))
