"""Layer-wise learning-rate decay for models that contain a ConvNeXt V2 trunk."""
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..layers import GRN
from ..models.convnextv2 import ConvNeXtV2Stages
from ..registry import OPTIM_WRAPPER_CONSTRUCTORS

NO_DECAY_MODULES = (nn.LayerNorm, nn.GroupNorm, _BatchNorm, _InstanceNorm, GRN)


def trunk_layer_id(name: str, depths: Tuple[int, ...]) -> int:
    """Return the layer id of a parameter of ``ConvNeXtV2Stages`` from its local name.

    The stem is layer 0; block j of stage i is ``sum(depths[:i]) + j + 1``;
    the downsampling layer before stage i shares the id of the block before
    it; an output norm ``norm{i}`` shares the id of stage i's last block;
    anything else (the classifier's ``norm`` and ``head``) is the last layer,
    ``sum(depths) + 1``.
    """
    parts = name.split('.')
    if parts[0] == 'downsample_layers':
        stage = int(parts[1])
        return 0 if stage == 0 else sum(depths[:stage])
    if parts[0] == 'stages':
        stage, block = int(parts[1]), int(parts[2])
        return sum(depths[:stage]) + block + 1
    if parts[0].startswith('norm') and parts[0][4:].isdigit():
        stage = int(parts[0][4:])
        return sum(depths[:stage + 1])
    return sum(depths) + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer constructor with layer-wise lr decay and no decay on norms and biases.

    The first ``ConvNeXtV2Stages`` module found in the model (a backbone or a
    classifier) provides the layers; the stem is layer 0 and every parameter
    outside the trunk (necks, heads) belongs to the last layer. A parameter of
    layer ``i`` gets ``lr = base_lr * decay_rate ** (last - i)``. Biases and
    the parameters of LayerNorm, BatchNorm, GroupNorm and GRN get
    ``weight_decay=0`` whatever their shape. Parameters with
    ``requires_grad=False`` (frozen stages) are left out.

    Config example::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
            constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(decay_rate=0.9))

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config.
        paramwise_cfg (dict, optional): ``decay_rate`` (float in (0, 1],
            default 0.9) is the only key read.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.decay_rate = float(paramwise_cfg.pop('decay_rate', 0.9))
        if not 0.0 < self.decay_rate <= 1.0:
            raise ValueError(f'decay_rate must be in (0, 1], got {self.decay_rate}')
        if paramwise_cfg:
            raise ValueError(f'Unknown paramwise_cfg keys {sorted(paramwise_cfg)} for '
                             'LayerDecayOptimWrapperConstructor; only "decay_rate" is read.')
        # mmengine calls add_params only when paramwise_cfg is non-empty, so the
        # rate is passed on. DefaultOptimWrapperConstructor ignores the key.
        super().__init__(optim_wrapper_cfg, paramwise_cfg=dict(decay_rate=self.decay_rate))

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   is_dcn_module=None) -> None:
        if self.base_lr is None:
            raise ValueError('LayerDecayOptimWrapperConstructor scales optimizer.lr per layer, '
                             f'but the optimizer config {self.optimizer_cfg} has no lr. Set it.')
        trunk_prefix, trunk = find_trunk(module)
        last_layer = sum(trunk.depths) + 1
        no_decay_ids = {id(p) for m in module.modules() if isinstance(m, NO_DECAY_MODULES)
                        for p in m.parameters(recurse=False)}

        groups: Dict[Tuple[int, bool], dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if name.startswith(trunk_prefix):
                layer_id = trunk_layer_id(name[len(trunk_prefix):], trunk.depths)
            else:
                layer_id = last_layer
            no_decay = id(param) in no_decay_ids or name.endswith('.bias') or name == 'bias'
            key = (layer_id, no_decay)
            if key not in groups:
                scale = self.decay_rate ** (last_layer - layer_id)
                groups[key] = dict(params=[], param_names=[], lr=self.base_lr * scale,
                                   lr_scale=scale, layer_id=layer_id)
                if no_decay:
                    groups[key]['weight_decay'] = 0.0
                elif self.base_wd is not None:
                    groups[key]['weight_decay'] = self.base_wd
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)

        for key in sorted(groups):
            params.append(groups[key])
        print_log(f'Layer-wise lr decay {self.decay_rate}: {last_layer + 1} layers, '
                  f'{len(groups)} parameter groups, stem lr scale '
                  f'{self.decay_rate ** last_layer:.3g}.', logger='current')


def find_trunk(module: nn.Module) -> Tuple[str, ConvNeXtV2Stages]:
    """Return the name prefix (with trailing dot) and the first ConvNeXt V2 trunk in ``module``."""
    for name, child in module.named_modules():
        if isinstance(child, ConvNeXtV2Stages):
            return (name + '.' if name else ''), child
    raise ValueError(f'LayerDecayOptimWrapperConstructor needs a model with a ConvNeXt V2 '
                     f'backbone or classifier; {type(module).__name__} has none.')
