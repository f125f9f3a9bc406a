"""Record of what a checkpoint load or conversion did, key by key."""
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from mmengine.logging import print_log

Shape = Tuple[int, ...]


@dataclass
class LoadReport:
    """Outcome of converting or loading one checkpoint.

    Attributes:
        source (str): Path of the checkpoint, or ``'<state dict>'`` for an
            in-memory mapping.
        layout (str): Detected key layout: ``official``,
            ``official-fcmae-sparse``, ``timm``, ``hf`` or ``mmpretrain``.
        details (list[str]): How the weights were found, e.g. the wrapper
            key (``'model'``) and the key prefix that was stripped.
        loaded (list[str]): Model keys that received a value.
        renamed (dict[str, str]): Source key -> model key, for every key
            whose name changed.
        reshaped (dict[str, tuple[Shape, Shape]]): Model key -> (source
            shape, new shape), for every tensor whose shape changed.
        skipped (dict[str, str]): Key -> reason, for checkpoint entries that
            were deliberately not loaded (decoder, another head, ...).
        missing (dict[str, str]): Model key -> reason, for model parameters
            that kept their initial value.
        unexpected (dict[str, str]): Key -> reason, for checkpoint entries
            that have no counterpart in the model.
    """

    source: str = '<state dict>'
    layout: str = ''
    details: List[str] = field(default_factory=list)
    loaded: List[str] = field(default_factory=list)
    renamed: Dict[str, str] = field(default_factory=dict)
    reshaped: Dict[str, Tuple[Shape, Shape]] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)
    missing: Dict[str, str] = field(default_factory=dict)
    unexpected: Dict[str, str] = field(default_factory=dict)
    # Missing keys that every checkpoint of the layout lacks (an absent head,
    # the backbone's output norms); logged at info instead of warning.
    expected_missing: List[str] = field(default_factory=list)
    # Skipped keys that lose trained weights the user may want (a head with
    # another num_classes); logged at warning instead of info.
    warn_skipped: List[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a one-line count of every category."""
        return (f'{len(self.loaded)} loaded, {len(self.renamed)} renamed, '
                f'{len(self.reshaped)} reshaped, {len(self.skipped)} skipped, '
                f'{len(self.missing)} missing, {len(self.unexpected)} unexpected')

    def log(self, logger: str = 'current') -> None:
        """Log the source, layout and every key of each category through mmengine."""
        header = f'Checkpoint {self.source}: layout {self.layout}'
        if self.details:
            header += f' ({"; ".join(self.details)})'
        print_log(f'{header}. {self.summary()}.', logger=logger)

        if self.renamed:
            lines = [f'  {old} -> {new}' for old, new in self.renamed.items()]
            print_log('Renamed keys:\n' + '\n'.join(lines), logger=logger)
        if self.reshaped:
            lines = [f'  {key}: {tuple(old)} -> {tuple(new)}'
                     for key, (old, new) in self.reshaped.items()]
            print_log('Reshaped keys:\n' + '\n'.join(lines), logger=logger)
        quiet = {k: v for k, v in self.skipped.items() if k not in self.warn_skipped}
        loud = {k: v for k, v in self.skipped.items() if k in self.warn_skipped}
        if quiet:
            print_log('Skipped keys:\n' + _reason_lines(quiet), logger=logger)
        if loud:
            print_log('Skipped keys:\n' + _reason_lines(loud), logger=logger,
                      level=logging.WARNING)

        expected = {k: v for k, v in self.missing.items() if k in self.expected_missing}
        other = {k: v for k, v in self.missing.items() if k not in self.expected_missing}
        if expected:
            print_log('Missing keys, expected for this checkpoint (they keep their '
                      'initialization):\n' + _reason_lines(expected), logger=logger)
        if other:
            print_log('Missing keys (they keep their initialization):\n' + _reason_lines(other),
                      logger=logger, level=logging.WARNING)
        if self.unexpected:
            print_log('Unexpected keys (not loaded):\n' + _reason_lines(self.unexpected),
                      logger=logger, level=logging.WARNING)


def _reason_lines(entries: Dict[str, str]) -> str:
    return '\n'.join(f'  {key}: {reason}' for key, reason in entries.items())
