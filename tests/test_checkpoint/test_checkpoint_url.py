"""Checkpoints given as URLs, served from a loopback HTTP server."""
import functools
import http.server
import threading

import pytest
import torch

from cnx2_backbone import ConvNeXtV2
from cnx2_backbone.checkpoint import read_checkpoint
from cnx2_backbone.checkpoint.io import download_checkpoint

TINY_ARCH = dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32))


@pytest.fixture
def served_folder(tmp_path):
    folder = tmp_path / 'served'
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_url_checkpoint_loads(served_folder, tmp_path, monkeypatch):
    folder, base_url = served_folder
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    source = ConvNeXtV2(arch=TINY_ARCH)
    torch.save(dict(model=source.state_dict()), folder / 'weights.pt')

    target = ConvNeXtV2(arch=TINY_ARCH, init_cfg=dict(type='Pretrained',
                                                      checkpoint=f'{base_url}/weights.pt'))
    target.init_weights()
    for name, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name


def test_url_download_cached(served_folder, tmp_path, monkeypatch):
    folder, base_url = served_folder
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    torch.save(dict(w=torch.ones(2)), folder / 'cached.pt')
    first = download_checkpoint(f'{base_url}/cached.pt')
    (folder / 'cached.pt').unlink()
    second = download_checkpoint(f'{base_url}/cached.pt')
    assert first == second
    assert torch.equal(read_checkpoint(str(second))['w'], torch.ones(2))


def test_unreachable_url_names_fix(served_folder, tmp_path, monkeypatch):
    _, base_url = served_folder
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with pytest.raises(FileNotFoundError, match='Download it by hand'):
        read_checkpoint(f'{base_url}/missing_fcmae.pt')
