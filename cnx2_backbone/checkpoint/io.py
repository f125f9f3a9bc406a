"""Read and write checkpoint files without executing code stored in them."""
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

import torch

PathLike = Union[str, os.PathLike]

# Files looked up, in this order, when a Hugging Face model folder is given.
HF_WEIGHT_FILES = ('model.safetensors', 'model.safetensors.index.json',
                   'pytorch_model.bin', 'pytorch_model.bin.index.json')

# Entries of a checkpoint dict that hold the weights, in order of preference:
# mmengine and timm save 'state_dict', the official ConvNeXt V2 code 'model'.
WRAPPER_KEYS = ('state_dict', 'model', 'module')


class _Placeholder:
    """Inert stand-in for a non-tensor object in a checkpoint.

    Training checkpoints also store metadata (mmengine's ``HistoryBuffer``,
    numpy scalars). The weights-only unpickler rejects their classes, so the
    loader maps each such class name to this type: it accepts any arguments,
    runs no code of the original class and keeps no state.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> '_Placeholder':
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Load a checkpoint file or Hugging Face model folder onto the CPU.

    ``.safetensors`` files are read with the safetensors package. Other
    files go through ``torch.load(..., weights_only=True)``. Objects that
    it rejects (training metadata such as optimizer extras) come back as
    inert placeholders, so no code from the file is run.

    Raises:
        FileNotFoundError: if ``path`` does not exist or a folder contains
            none of the Hugging Face weight files.
        ImportError: for a ``.safetensors`` file without the safetensors package.
        ValueError: if the file cannot be read as a weights-only checkpoint.
    """
    if isinstance(path, str) and path.startswith(('http://', 'https://')):
        path = download_checkpoint(path)
    path = Path(path)
    if path.is_dir():
        return _read_hf_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f'Checkpoint not found: {path}')
    if path.name.endswith('.index.json'):
        return _read_sharded(path)
    if path.suffix == '.safetensors':
        return _read_safetensors(path)
    return _torch_load_weights_only(path)


def download_checkpoint(url: str) -> Path:
    """Download ``url`` once into torch's hub cache and return the local file.

    The file lands in ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch`` by
    default) and is then read like a local file, weights-only.
    """
    from mmengine.logging import print_log

    cache = Path(torch.hub.get_dir()) / 'checkpoints'
    target = cache / Path(url.split('?', 1)[0]).name
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        print_log(f'Downloading {url} to {target}', logger='current')
        try:
            torch.hub.download_url_to_file(url, str(target), progress=True)
        except OSError as error:
            raise FileNotFoundError(
                f'Could not download checkpoint {url}: {error}. Download it by hand and set '
                'init_cfg.checkpoint (or the path argument) to the local file.') from error
    return target


def _read_hf_folder(folder: Path) -> Dict[str, Any]:
    for name in HF_WEIGHT_FILES:
        candidate = folder / name
        if candidate.is_file():
            return read_checkpoint(candidate)
    raise FileNotFoundError(f'{folder} is a folder without any of {list(HF_WEIGHT_FILES)}; '
                            'pass the checkpoint file itself.')


def _read_sharded(index_path: Path) -> Dict[str, Any]:
    with open(index_path, encoding='utf-8') as index_file:
        weight_map = json.load(index_file).get('weight_map')
    if not isinstance(weight_map, dict):
        raise ValueError(f'{index_path} has no "weight_map"; expected a Hugging Face '
                         'sharded checkpoint index.')
    state_dict: Dict[str, Any] = {}
    for shard_name in sorted(set(weight_map.values())):
        state_dict.update(read_checkpoint(index_path.parent / shard_name))
    return state_dict


def _read_safetensors(path: Path) -> Dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as error:
        raise ImportError(f'Reading {path} needs the safetensors package: '
                          'pip install safetensors') from error
    return load_file(str(path), device='cpu')


def _torch_load_weights_only(path: Path) -> Dict[str, Any]:
    # Memory-map the zip format (every torch.save since 1.6) so that large
    # checkpoints are not copied into memory before the model takes them.
    load_kwargs = dict(map_location='cpu', weights_only=True, mmap=zipfile.is_zipfile(path))
    try:
        return torch.load(path, **load_kwargs)
    except pickle.UnpicklingError as first_error:
        try:
            unsafe_names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception as scan_error:  # legacy (non-zip) files cannot be scanned
            raise ValueError(f'{path} cannot be loaded with weights_only=True and its '
                             f'objects cannot be listed ({scan_error}). Original error: '
                             f'{first_error}') from first_error
        placeholders = [(_Placeholder, name) for name in unsafe_names]
        try:
            with torch.serialization.safe_globals(placeholders):
                return torch.load(path, **load_kwargs)
        except pickle.UnpicklingError as second_error:
            raise ValueError(
                f'Failed to load {path} with weights_only=True because it contains objects '
                f'that cannot be loaded safely ({", ".join(unsafe_names)}): {second_error}. '
                'If you trust the file, save only its state dict '
                '(torch.save(checkpoint["state_dict"], ...)) and load that.') from second_error


def unwrap_state_dict(checkpoint: Mapping[str, Any]) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Return the tensor dict inside ``checkpoint`` and how it was found.

    Follows the first present entry of ``WRAPPER_KEYS`` until a dict of
    tensors is reached. Returns ``(state_dict, details)`` where details name
    the wrappers, e.g. ``["in 'model'"]``.

    Raises:
        TypeError: if ``checkpoint`` is not a mapping.
        ValueError: if no dict of tensors is found, or a weight is not a tensor.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'Expected a checkpoint dict, got {type(checkpoint).__name__}.')
    details: List[str] = []
    current: Mapping[str, Any] = checkpoint
    while not _is_tensor_dict(current):
        wrapper = next((key for key in WRAPPER_KEYS
                        if isinstance(current.get(key), Mapping)), None)
        if wrapper is None:
            raise ValueError(
                f'No weights found: the checkpoint has entries {sorted(current)[:10]}, '
                f'none of them a dict of tensors under {list(WRAPPER_KEYS)}.')
        details.append(f'in {wrapper!r}')
        current = current[wrapper]
    state_dict = dict(current)
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'Checkpoint entry {key!r} is a {type(value).__name__}, '
                             'not a tensor.')
    return state_dict, details


def _is_tensor_dict(mapping: Mapping[str, Any]) -> bool:
    values = list(mapping.values())
    return bool(values) and all(isinstance(v, torch.Tensor) for v in values)


def save_state_dict(state_dict: Mapping[str, torch.Tensor], path: PathLike,
                    wrapper: Union[str, None] = None) -> None:
    """Write contiguous copies of ``state_dict`` to ``path``.

    A ``.safetensors`` path is written with the safetensors package (no
    wrapper is possible there); any other path with ``torch.save``, inside
    ``{wrapper: state_dict}`` when ``wrapper`` is given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().contiguous() for key, value in state_dict.items()}
    if path.suffix == '.safetensors':
        try:
            from safetensors.torch import save_file
        except ImportError as error:
            raise ImportError(f'Writing {path} needs the safetensors package: '
                              'pip install safetensors') from error
        save_file(tensors, str(path))
        return
    torch.save({wrapper: tensors} if wrapper else tensors, path)
