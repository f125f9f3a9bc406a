import argparse
import importlib.metadata

import pytest
import torch
from mmengine.config import Config

from cnx2_backbone import runtime
from cnx2_backbone.version_check import check_versions


def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    runtime.add_runner_args(parser)
    runtime.add_resume_arg(parser)
    return parser.parse_args(argv)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / 'toy_config.py'
    path.write_text("optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))\n"
                    "train_cfg = dict(by_epoch=False, max_iters=4)\n")
    return path


def test_version_check_names_versions():
    installed = importlib.metadata.version('mmcv')
    with pytest.raises(ImportError) as info:
        check_versions((('mmcv', '9.0.0', '10.0.0', True),))
    assert f'mmcv {installed} is installed' in str(info.value)
    assert '>=9.0.0,<10.0.0' in str(info.value)


def test_version_check_missing_required():
    with pytest.raises(ImportError, match='not-a-real-package is not installed'):
        check_versions((('not-a-real-package', '1.0', '2.0', True),))


def test_version_check_missing_optional_passes():
    check_versions((('not-a-real-package', '1.0', '2.0', False),))


def test_default_work_dir_from_config_name(config_file):
    cfg = runtime.build_config(str(config_file), parse([str(config_file)]))
    assert cfg.work_dir == 'work_dirs/toy_config'


def test_cfg_options_applied(config_file):
    args = parse([str(config_file), '--cfg-options', 'train_cfg.max_iters=9'])
    cfg = runtime.build_config(str(config_file), args)
    assert cfg.train_cfg.max_iters == 9


def test_amp_on_cpu_uses_bfloat16(config_file):
    cfg = runtime.build_config(str(config_file), parse([str(config_file), '--amp']))
    expected = 'AmpOptimWrapper' if torch.cuda.is_available() else 'cnx2_backbone.BFloat16OptimWrapper'
    assert cfg.optim_wrapper.type == expected


def test_config_amp_wrapper_replaced_without_gpu(tmp_path):
    path = tmp_path / 'amp_config.py'
    path.write_text("optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', "
                    "optimizer=dict(type='AdamW', lr=1e-3))\n")
    cfg = runtime.build_config(str(path), parse([str(path)]))
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert cfg.optim_wrapper.type == 'cnx2_backbone.BFloat16OptimWrapper'
        assert 'loss_scale' not in cfg.optim_wrapper


def test_resume_auto_and_path(config_file, tmp_path):
    cfg = runtime.build_config(str(config_file), parse([str(config_file), '--resume']))
    assert cfg.resume is True
    assert cfg.load_from is None
    checkpoint = tmp_path / 'iter_2.pth'
    checkpoint.write_bytes(b'')
    cfg = runtime.build_config(str(config_file),
                               parse([str(config_file), '--resume', str(checkpoint)]))
    assert cfg.load_from == str(checkpoint)


def test_resume_missing_checkpoint_raises(config_file, tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        runtime.build_config(str(config_file), parse([str(config_file), '--resume', str(missing)]))


def test_missing_config_raises(tmp_path):
    missing = tmp_path / 'missing.py'
    with pytest.raises(FileNotFoundError, match='missing.py'):
        runtime.build_config(str(missing), parse([str(missing)]))


def test_pytorch_launcher_without_torchrun_raises(config_file, monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    cfg = runtime.build_config(str(config_file),
                               parse([str(config_file), '--launcher', 'pytorch']))
    if torch.cuda.is_available():
        # GPU runs are left to mmengine's launcher.
        runtime.setup_cpu_distributed(cfg)
        assert 'model_wrapper_cfg' not in cfg
        return
    with pytest.raises(RuntimeError, match='torchrun'):
        runtime.setup_cpu_distributed(cfg)


def test_bfloat16_wrapper_autocasts():
    from cnx2_backbone.engine import BFloat16OptimWrapper
    model = torch.nn.Linear(4, 2)
    wrapper = BFloat16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   device_type='cpu')
    with wrapper.optim_context(model):
        output = model(torch.randn(3, 4))
    assert output.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(output.float().sum())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(before, model.weight)


def test_runner_checkpoint_round_trip(tmp_path):
    from mmengine.logging import HistoryBuffer
    import numpy as np
    buffer = HistoryBuffer()
    buffer.update(1.5)
    path = tmp_path / 'runner_like.pth'
    torch.save(dict(meta=dict(buffer=buffer, value=np.float64(2.0), array=np.arange(3)),
                    state_dict=dict(w=torch.ones(2))), path)
    with pytest.raises(Exception, match='weights_only'):
        torch.load(path, weights_only=True)
    with runtime.runner_checkpoint_loading():
        loaded = torch.load(path, weights_only=True)
    assert loaded['meta']['buffer'].current() == 1.5
    assert loaded['meta']['value'] == 2.0


class Payload:
    def __reduce__(self):
        # getattr(HistoryBuffer, '__init__') is outside the allowed statistics.
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_runner_checkpoint_rejects_other_getattr(tmp_path):
    path = tmp_path / 'hostile.pth'
    torch.save(dict(meta=Payload()), path)
    with runtime.runner_checkpoint_loading():
        with pytest.raises(Exception, match='only HistoryBuffer methods'):
            torch.load(path, weights_only=True)


def test_amp_on_cpu_scopes_mmdet_to_features(tmp_path):
    path = tmp_path / 'det_config.py'
    path.write_text("default_scope = 'mmdet'\n"
                    "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))\n")
    cfg = runtime.build_config(str(path), parse([str(path), '--amp']))
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert cfg.optim_wrapper.autocast_scope == 'features'


class BackboneNeckHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Linear(4, 4)
        self.neck = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        features = self.neck(self.backbone(x))
        return features, self.head(features)


def test_bfloat16_feature_scope_float32_heads():
    from cnx2_backbone.engine import BFloat16OptimWrapper
    model = BackboneNeckHead()
    wrapper = BFloat16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   device_type='cpu', autocast_scope='features')
    with wrapper.optim_context(model):
        features, logits = model(torch.randn(3, 4))
    assert features.dtype == torch.float32
    assert logits.dtype == torch.float32
    assert not torch.is_autocast_enabled('cpu')


def test_bfloat16_feature_scope_autocasts_backbone():
    from cnx2_backbone.engine import BFloat16OptimWrapper
    model = BackboneNeckHead()
    seen = []
    model.backbone.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    wrapper = BFloat16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   device_type='cpu', autocast_scope='features')
    with wrapper.optim_context(model):
        model(torch.randn(3, 4))
    assert seen == [torch.bfloat16]


def test_bfloat16_rejects_unknown_scope():
    from cnx2_backbone.engine import BFloat16OptimWrapper
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='autocast_scope'):
        BFloat16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                             autocast_scope='heads')
