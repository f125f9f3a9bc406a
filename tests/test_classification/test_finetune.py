"""Short real fine-tunes on the ants/bees photos through mmengine's Runner."""
import logging

import torch

from cnx2_backbone import runtime
from cnx2_backbone.checkpoint import read_checkpoint
from cnx2_backbone.models import ConvNeXtV2


def logged_losses(runner):
    return [float(value) for value in runner.message_hub.get_scalar('train/loss')._log_history]


def test_training_lowers_the_loss(trained_run):
    runner, _ = trained_run
    losses = logged_losses(runner)
    assert len(losses) == 12
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < losses[0] - 0.05


def test_checkpoint_carries_class_names_and_config(trained_checkpoint):
    with runtime.runner_checkpoint_loading():
        checkpoint = read_checkpoint(trained_checkpoint)
    assert tuple(checkpoint['meta']['dataset_meta']['classes']) == ('ants', 'bees')
    assert "arch='atto'" in checkpoint['meta']['cfg']
    assert 'classifier.head.weight' in checkpoint['state_dict']


def test_validation_reports_top1(trained_run):
    runner, _ = trained_run
    top1 = runner.message_hub.get_scalar('val/accuracy/top1').current()
    assert 0.0 <= top1 <= 100.0
    assert 'val/accuracy/top5' not in runner.message_hub.log_scalars


def test_test_tool_path_evaluates_checkpoint(trained_run, trained_checkpoint):
    runner, _ = trained_run
    cfg = runner.cfg.copy()
    cfg.work_dir = str(trained_checkpoint.parent / 'test')
    metrics = runtime.test(cfg, str(trained_checkpoint))
    assert set(metrics) == {'accuracy/top1'}
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0


def test_finetune_from_backbone_export_loads_trunk(tmp_path, small_train_folder,
                                                   short_finetune_config):
    backbone = ConvNeXtV2(arch='atto')
    export = tmp_path / 'backbone.pth'
    torch.save({'state_dict': backbone.state_dict()}, export)

    cfg = short_finetune_config(small_train_folder, small_train_folder, tmp_path / 'work',
                                max_iters=2, init_checkpoint=str(export))
    runner = runtime.build_runner(cfg)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    runner.logger.addHandler(handler)
    runner.model.init_weights()
    runner.logger.removeHandler(handler)
    stem = runner.model.classifier.downsample_layers[0][0].weight
    assert torch.equal(stem, backbone.downsample_layers[0][0].weight)
    assert runner.model.classifier.head.weight.abs().max() < 0.002
    assert any(f'Checkpoint {export}: layout official' in message for message in messages)
