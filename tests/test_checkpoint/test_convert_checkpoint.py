"""Export to the official, timm and Hugging Face layouts, and back without change."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ckpt_helpers import SMALL_ARCH, clone_state, randomize_, to_official

from cnx2_backbone import ConvNeXtV2, ConvNeXtV2Classifier
from cnx2_backbone.checkpoint import (LoadReport, convert_checkpoint, convert_to_canonical,
                                      export_state_dict)

REPO_ROOT = Path(__file__).resolve().parents[2]
ATTO = 'atto'  # timm's 1x1-conv MLP width


def classifier_state(arch=SMALL_ARCH):
    return clone_state(randomize_(ConvNeXtV2Classifier(arch=arch, num_classes=4)))


def round_trip(canonical, layout, **kwargs):
    exported = export_state_dict(canonical, layout, LoadReport(), **kwargs)
    return exported, convert_to_canonical(exported, LoadReport())


def assert_same_tensors(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].shape == value.shape, key
        assert torch.equal(actual[key], value), key


@pytest.mark.parametrize('layout', ['official', 'timm', 'hf'])
def test_round_trip_identical(layout):
    canonical = classifier_state()
    _, back = round_trip(canonical, layout)
    assert_same_tensors(back, canonical)


@pytest.mark.parametrize('conv_mlp', [True, False])
def test_timm_round_trip_conv_mlp(conv_mlp):
    canonical = classifier_state()
    exported, back = round_trip(canonical, 'timm', conv_mlp=conv_mlp)
    assert exported['stages.0.blocks.0.mlp.fc1.weight'].ndim == (4 if conv_mlp else 2)
    assert_same_tensors(back, canonical)


def test_hf_backbone_round_trip():
    canonical = clone_state(randomize_(ConvNeXtV2(arch=SMALL_ARCH)))
    exported, back = round_trip(canonical, 'hf')
    assert 'hidden_states_norms.stage4.weight' in exported
    assert_same_tensors(back, canonical)


def test_timm_export_loads_strictly_in_timm():
    timm = pytest.importorskip('timm')
    canonical = classifier_state(ATTO)
    exported = export_state_dict(canonical, 'timm', LoadReport())
    peer = timm.create_model('convnextv2_atto', pretrained=False, num_classes=4)
    peer.load_state_dict(exported, strict=True)
    assert torch.equal(peer.head.fc.bias, canonical['head.bias'])


def test_hf_export_loads_strictly_in_transformers():
    transformers = pytest.importorskip('transformers')
    canonical = classifier_state()
    exported = export_state_dict(canonical, 'hf', LoadReport())
    config = transformers.ConvNextV2Config(depths=list(SMALL_ARCH['depths']),
                                           hidden_sizes=list(SMALL_ARCH['dims']), num_labels=4)
    peer = transformers.ConvNextV2ForImageClassification(config)
    peer.load_state_dict(exported, strict=True)
    assert torch.equal(peer.classifier.bias, canonical['head.bias'])


def test_official_export_drops_output_norms(tmp_path):
    canonical = clone_state(randomize_(ConvNeXtV2(arch=SMALL_ARCH)))
    torch.save({'state_dict': canonical}, tmp_path / 'backbone.pth')
    _, write_report = convert_checkpoint(tmp_path / 'backbone.pth', tmp_path / 'official.pth')
    written = torch.load(tmp_path / 'official.pth', weights_only=True)['model']
    assert 'norm0.weight' in write_report.skipped
    assert 'norm0.weight' not in written
    assert written['stages.0.0.grn.gamma'].shape == (1, 1, 1, 4 * SMALL_ARCH['dims'][0])


def test_cli_timm_and_back(tmp_path):
    original = to_official(classifier_state())
    torch.save({'model': original}, tmp_path / 'official.pth')
    tool = str(REPO_ROOT / 'tools' / 'convert_checkpoint.py')
    command = [sys.executable, tool, str(tmp_path / 'official.pth'), str(tmp_path / 'timm.pth'),
               '--to', 'timm']
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'Wrote' in result.stdout + result.stderr

    convert_checkpoint(tmp_path / 'timm.pth', tmp_path / 'back.pth', layout='official')
    timm_state = torch.load(tmp_path / 'timm.pth', weights_only=True)
    back = torch.load(tmp_path / 'back.pth', weights_only=True)['model']
    assert 'stem.0.weight' in timm_state
    assert_same_tensors(back, original)


def test_safetensors_hf_and_back(tmp_path):
    pytest.importorskip('safetensors')
    original = classifier_state()
    torch.save(original, tmp_path / 'mine.pth')
    convert_checkpoint(tmp_path / 'mine.pth', tmp_path / 'hf.safetensors', layout='hf')
    _, report = convert_checkpoint(tmp_path / 'hf.safetensors', tmp_path / 'back.pth')
    back = torch.load(tmp_path / 'back.pth', weights_only=True)['model']
    grn_key = 'stages.2.1.grn.beta'
    assert torch.equal(back[grn_key].reshape(-1), original[grn_key])
    assert report.layout == 'official'
