"""One training step and one evaluation of the CamVid config on real images, in-process.

The faster companion of test_camvid_tools.py: the same config, with its own
pipelines, layer-decay optimizer and IoU metric, but no Runner and no
subprocess.
"""
import copy
import math
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / 'configs' / 'upernet' / 'convnextv2-atto_upernet_scratch_camvid-mini.py'


def load_config(demo_data):
    cfg = Config.fromfile(str(CONFIG))
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = str(demo_data / 'camvid_mini')
    return cfg


def collate(dataset, indices):
    items = [dataset[index] for index in indices]
    return dict(inputs=[item['inputs'] for item in items],
                data_samples=[item['data_samples'] for item in items])


def test_camvid_train_step_and_miou(demo_data):
    import cnx2_backbone  # noqa: F401
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import DATASETS, METRICS, MODELS
    cfg = load_config(demo_data)
    init_default_scope('mmseg')
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    train_set = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    val_set = DATASETS.build(copy.deepcopy(cfg.val_dataloader.dataset))

    model.train()
    stem_before = model.backbone.downsample_layers[0][0].weight.detach().clone()
    log_vars = model.train_step(collate(train_set, [0, 1]), optim_wrapper)
    assert math.isfinite(float(log_vars['loss']))
    assert float(log_vars['loss']) > 0
    assert 'decode.loss_ce' in log_vars
    assert 'aux.loss_ce' in log_vars
    stem_after = model.backbone.downsample_layers[0][0].weight
    assert not torch.equal(stem_before, stem_after)

    model.eval()
    metric = METRICS.build(copy.deepcopy(cfg.val_evaluator))
    metric.dataset_meta = val_set.metainfo
    batch = collate(val_set, [0, 1])
    with torch.no_grad():
        predictions = model.val_step(batch)
    assert predictions[0].pred_sem_seg.data.shape[-2:] == (180, 240)
    metric.process(batch, [sample.to_dict() for sample in predictions])
    results = metric.compute_metrics(metric.results)
    assert math.isfinite(results['mIoU'])
    assert 0.0 <= results['mIoU'] <= 100.0
