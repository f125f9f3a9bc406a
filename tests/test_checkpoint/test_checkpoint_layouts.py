"""Each supported checkpoint layout loads into the backbone and the classifier."""
import argparse
import json
import logging

import pytest
import torch
from ckpt_helpers import (SMALL_ARCH, SMALL_DIMS, clone_state, randomize_, to_mmpretrain,
                          to_official, to_sparse_fcmae)
from mmengine.logging import MessageHub, MMLogger

from cnx2_backbone import FCMAE, ConvNeXtV2, ConvNeXtV2Classifier, load_pretrained
from cnx2_backbone.checkpoint import detect_layout, read_checkpoint
from cnx2_backbone.checkpoint.converters.official import sparse_kernel_to_dense

NUM_CLASSES = 5


def trained_classifier():
    return randomize_(ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES))


def trunk_keys(state):
    return [k for k in state if k.startswith(('downsample_layers.', 'stages.'))]


def assert_trunk_equal(model, reference):
    state = model.state_dict()
    for key in trunk_keys(reference):
        assert torch.equal(state[key], reference[key]), key


def test_official_finetuned_into_classifier(tmp_path):
    reference = clone_state(trained_classifier())
    torch.save({'model': to_official(reference)}, tmp_path / 'finetuned.pt')

    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    report = load_pretrained(model, tmp_path / 'finetuned.pt')
    for key, value in reference.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert report.layout == 'official'
    assert "in 'model'" in report.details
    assert report.missing == {}
    assert report.reshaped['stages.0.0.grn.gamma'] == ((1, 1, 1, 4 * SMALL_DIMS[0]),
                                                       (4 * SMALL_DIMS[0],))


def test_official_finetuned_into_backbone(tmp_path):
    reference = clone_state(trained_classifier())
    torch.save({'model': to_official(reference)}, tmp_path / 'finetuned.pt')

    model = ConvNeXtV2(arch=SMALL_ARCH)
    report = load_pretrained(model, tmp_path / 'finetuned.pt')
    assert_trunk_equal(model, reference)
    assert 'head.weight' in report.skipped
    assert 'norm.weight' in report.skipped
    assert set(report.missing) == {f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias')}
    assert set(report.expected_missing) == set(report.missing)


def test_fcmae_pretrain_only_into_classifier(tmp_path):
    reference = clone_state(trained_classifier())
    trunk = {k: v for k, v in to_official(reference).items() if k in trunk_keys(reference)}
    torch.save({'model': trunk}, tmp_path / 'fcmae.pt')

    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    report = load_pretrained(model, tmp_path / 'fcmae.pt')
    assert_trunk_equal(model, reference)
    assert set(report.missing) == {'norm.weight', 'norm.bias', 'head.weight', 'head.bias'}
    assert set(report.expected_missing) == set(report.missing)
    assert any('pretrain-only' in note for note in report.details)


def test_sparse_fcmae_exact_weights(tmp_path):
    reference = clone_state(trained_classifier())
    dense = {k: v for k, v in reference.items() if k in trunk_keys(reference)}
    torch.save({'model': to_sparse_fcmae(dense)}, tmp_path / 'fcmae_full.pt')

    model = ConvNeXtV2(arch=SMALL_ARCH)
    report = load_pretrained(model, tmp_path / 'fcmae_full.pt')
    assert report.layout == 'official-fcmae-sparse'
    assert_trunk_equal(model, dense)
    for key in ('mask_token', 'proj.weight', 'pred.bias', 'decoder.0.dwconv.weight'):
        assert 'decoder' in report.skipped[key], key
    assert report.renamed['encoder.stages.0.0.dwconv.kernel'] == 'stages.0.0.dwconv.weight'
    assert report.reshaped['stages.0.0.dwconv.weight'] == ((49, SMALL_DIMS[0]),
                                                          (SMALL_DIMS[0], 1, 7, 7))
    assert report.unexpected == {}


def test_sparse_kernel_offset_order():
    # Offsets of a 2x2 kernel run w * k + h: (h0, w0), (h1, w0), (h0, w1), (h1, w1).
    sparse = torch.tensor([0.0, 2.0, 1.0, 3.0]).reshape(4, 1, 1)
    dense = sparse_kernel_to_dense(sparse, depthwise=False, key='kernel')
    assert dense[0, 0].tolist() == [[0.0, 1.0], [2.0, 3.0]]


def test_package_fcmae_into_backbone(tmp_path):
    fcmae = randomize_(FCMAE(arch=SMALL_ARCH, decoder_dim=16))
    torch.save({'state_dict': fcmae.state_dict()}, tmp_path / 'fcmae_epoch_1.pth')

    model = ConvNeXtV2(arch=SMALL_ARCH)
    report = load_pretrained(model, tmp_path / 'fcmae_epoch_1.pth')
    assert report.layout == 'official'
    assert torch.equal(model.stages[3][0].grn.gamma, fcmae.encoder.stages[3][0].grn.gamma)
    assert 'decoder' in report.skipped['decoder.0.pwconv1.weight']
    assert report.unexpected == {}


def test_timm_conv_mlp_layout():
    timm_convnext = pytest.importorskip('timm.models.convnext')
    peer = timm_convnext.ConvNeXt(depths=SMALL_ARCH['depths'], dims=SMALL_DIMS,
                                  num_classes=NUM_CLASSES, conv_mlp=True, use_grn=True,
                                  ls_init_value=None)
    state = randomize_(peer).state_dict()
    assert state['stages.0.blocks.0.mlp.fc1.weight'].ndim == 4

    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    report = load_pretrained(model, state)
    assert report.layout == 'timm'
    assert report.missing == {}
    assert report.reshaped['stages.0.0.pwconv1.weight'] == ((32, 8, 1, 1), (32, 8))
    fc1 = state['stages.0.blocks.0.mlp.fc1.weight'].flatten(1)
    assert torch.equal(model.stages[0][0].pwconv1.weight, fc1)


def test_hf_grn_gamma_beta_names():
    transformers = pytest.importorskip('transformers')
    config = transformers.ConvNextV2Config(depths=list(SMALL_ARCH['depths']),
                                           hidden_sizes=list(SMALL_DIMS),
                                           num_labels=NUM_CLASSES)
    state = randomize_(transformers.ConvNextV2ForImageClassification(config)).state_dict()
    renamed = {k.replace('grn.weight', 'grn.gamma').replace('grn.bias', 'grn.beta'): v
               for k, v in state.items()}
    assert any(k.endswith('grn.gamma') for k in renamed)

    by_weight = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    by_gamma = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    load_pretrained(by_weight, state)
    report = load_pretrained(by_gamma, renamed)
    assert report.layout == 'hf'
    assert report.missing == {}
    for key, value in by_weight.state_dict().items():
        assert torch.equal(by_gamma.state_dict()[key], value), key


def test_hf_safetensors_file(tmp_path):
    safetensors_torch = pytest.importorskip('safetensors.torch')
    transformers = pytest.importorskip('transformers')
    config = transformers.ConvNextV2Config(depths=list(SMALL_ARCH['depths']),
                                           hidden_sizes=list(SMALL_DIMS))
    model_hf = randomize_(transformers.ConvNextV2Model(config))
    safetensors_torch.save_file(model_hf.state_dict(), str(tmp_path / 'model.safetensors'))

    model = ConvNeXtV2(arch=SMALL_ARCH)
    report = load_pretrained(model, tmp_path / 'model.safetensors')
    assert report.layout == 'hf'
    assert 'norm.weight' in report.skipped
    expected = model_hf.encoder.stages[2].layers[1].grn.weight.reshape(-1)
    assert torch.equal(model.stages[2][1].grn.gamma, expected)


def test_hf_sharded_index(tmp_path):
    safetensors_torch = pytest.importorskip('safetensors.torch')
    reference = clone_state(trained_classifier())
    keys = sorted(reference)
    shards = {'model-00001-of-00002.safetensors': keys[:len(keys) // 2],
              'model-00002-of-00002.safetensors': keys[len(keys) // 2:]}
    weight_map = {}
    for name, shard_keys in shards.items():
        safetensors_torch.save_file({k: reference[k] for k in shard_keys}, str(tmp_path / name))
        weight_map.update({k: name for k in shard_keys})
    index = tmp_path / 'model.safetensors.index.json'
    index.write_text(json.dumps({'metadata': {}, 'weight_map': weight_map}))

    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    report = load_pretrained(model, tmp_path)
    assert report.missing == {}
    assert torch.equal(model.head.weight, reference['head.weight'])


def test_legacy_torch_format(tmp_path):
    reference = clone_state(trained_classifier())
    torch.save({'model': reference}, tmp_path / 'legacy.pth',
               _use_new_zipfile_serialization=False)
    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    report = load_pretrained(model, tmp_path / 'legacy.pth')
    assert report.missing == {}
    assert torch.equal(model.norm.bias, reference['norm.bias'])


@pytest.mark.parametrize('grn_shape', [(-1,), (1, -1), (1, 1, 1, -1)])
def test_grn_shapes_load(grn_shape):
    reference = clone_state(trained_classifier())
    state = {k: v.reshape(grn_shape) if '.grn.' in k else v for k, v in reference.items()}
    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    load_pretrained(model, state)
    assert torch.equal(model.stages[1][0].grn.beta, reference['stages.1.0.grn.beta'])


def test_mmpretrain_classifier_layout():
    reference = clone_state(trained_classifier())
    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    report = load_pretrained(model, {'state_dict': to_mmpretrain(reference)})
    assert report.layout == 'mmpretrain'
    assert report.renamed['backbone.norm3.weight'] == 'norm.weight'
    assert report.missing == {}
    for key, value in reference.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_mmpretrain_detector_output_norms():
    reference = clone_state(randomize_(ConvNeXtV2(arch=SMALL_ARCH)))
    checkpoint = to_mmpretrain(reference, classifier=False)
    checkpoint['neck.lateral_convs.0.conv.weight'] = torch.zeros(4, 8, 1, 1)

    model = ConvNeXtV2(arch=SMALL_ARCH)
    report = load_pretrained(model, checkpoint)
    assert report.missing == {}
    assert torch.equal(model.norm2.weight, reference['norm2.weight'])
    assert 'neck.lateral_convs.0.conv.weight' in report.skipped


def test_mmengine_detector_checkpoint(tmp_path):
    reference = clone_state(randomize_(ConvNeXtV2(arch=SMALL_ARCH)))
    hub = MessageHub.get_instance('checkpoint_test')
    hub.update_scalar('train/loss', 0.5)
    checkpoint = {
        'meta': {'epoch': 1, 'iter': 10, 'cfg': "model = dict(type='MaskRCNN')"},
        'state_dict': {**{'backbone.' + k: v for k, v in reference.items()},
                       'neck.fpn_convs.0.conv.weight': torch.zeros(4, 4, 3, 3),
                       'data_preprocessor.mean': torch.zeros(3)},
        'message_hub': hub.state_dict(),
        'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'params': [0]}]},
    }
    torch.save(checkpoint, tmp_path / 'epoch_1.pth')

    model = ConvNeXtV2(arch=SMALL_ARCH, init_cfg=dict(type='Pretrained',
                                                       checkpoint=str(tmp_path / 'epoch_1.pth')))
    model.init_weights()
    for key, value in reference.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_prefix_argument_and_ddp_wrapper():
    reference = clone_state(randomize_(ConvNeXtV2(arch=SMALL_ARCH)))
    checkpoint = {'module.backbone.' + k: v for k, v in reference.items()}
    checkpoint.update({'module.student.' + k: v for k, v in reference.items()})

    model = ConvNeXtV2(arch=SMALL_ARCH)
    report = load_pretrained(model, checkpoint, prefix='module.backbone.')
    assert report.missing == {}
    assert 'module.student.norm0.weight' in report.skipped


def test_classifier_args_placeholder(tmp_path):
    # Official training checkpoints also store an argparse.Namespace.
    reference = clone_state(trained_classifier())
    checkpoint = {'model': to_official(reference), 'args': argparse.Namespace(lr=0.1),
                  'epoch': 3}
    torch.save(checkpoint, tmp_path / 'checkpoint-3.pth')
    loaded = read_checkpoint(tmp_path / 'checkpoint-3.pth')
    assert torch.equal(loaded['model']['head.bias'], reference['head.bias'])


def test_detect_layout_ignores_file_name(tmp_path):
    reference = clone_state(trained_classifier())
    path = tmp_path / 'timm_convnextv2_model.safetensors.pth'
    torch.save({'model': to_official(reference)}, path)
    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=NUM_CLASSES)
    assert load_pretrained(model, path).layout == 'official'


def test_detect_layout_prefix():
    state = {'encoder.stages.0.0.dwconv.weight': torch.zeros(8, 1, 7, 7)}
    layout = detect_layout(state)
    assert (layout.name, layout.prefix) == ('official', 'encoder.')


def test_load_logs_every_category(tmp_path):
    reference = clone_state(trained_classifier())
    dense = {k: v for k, v in reference.items() if k in trunk_keys(reference)}
    torch.save({'model': to_sparse_fcmae(dense)}, tmp_path / 'fcmae_full.pt')
    log_file = tmp_path / 'load.log'
    logger = MMLogger.get_instance('checkpoint_log_test', log_file=str(log_file),
                                   log_level=logging.INFO)
    assert MMLogger.get_current_instance() is logger

    load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), tmp_path / 'fcmae_full.pt')
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    assert str(tmp_path / 'fcmae_full.pt') in text
    assert 'official-fcmae-sparse' in text
    assert 'encoder.stages.0.0.norm.ln.weight -> stages.0.0.norm.weight' in text
    assert 'stages.1.0.grn.gamma: (1, 64) -> (64,)' in text
    assert 'mask_token: FCMAE decoder side' in text
    assert 'norm0.weight: backbone output norm' in text
