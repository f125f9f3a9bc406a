"""Check that the installed OpenMMLab packages are versions this plugin supports."""
import importlib.metadata
from typing import Optional, Tuple

from packaging.version import Version

# (distribution name, minimum inclusive, maximum exclusive, required?)
SUPPORTED_VERSIONS = (
    ('mmengine', '0.10.0', '1.0.0', True),
    ('mmcv', '2.0.0', '2.2.0', True),
    ('mmdet', '3.0.0', '3.4.0', False),
    ('mmsegmentation', '1.0.0', '1.3.0', False),
)

INSTALL_HINT = ('Install the pinned stack with `make install` (mmengine 0.10.7, mmcv 2.1.0 '
                'with its C++ ops, mmdet 3.3.0, mmsegmentation 1.2.2).')


def installed_version(distribution: str) -> Optional[str]:
    """Return the installed version of ``distribution`` or None if it is absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_problem(distribution: str, minimum: str, maximum: str,
                    required: bool) -> Optional[str]:
    """Describe why the installed ``distribution`` is unsupported, or return None."""
    version = installed_version(distribution)
    if version is None:
        return f'{distribution} is not installed (need >={minimum},<{maximum})' if required else None
    if not Version(minimum) <= Version(version) < Version(maximum):
        return f'{distribution} {version} is installed, but cnx2_backbone needs >={minimum},<{maximum}'
    return None


def check_versions(checks: Tuple[Tuple[str, str, str, bool], ...] = SUPPORTED_VERSIONS) -> None:
    """Raise ImportError naming every installed-vs-required mismatch."""
    problems = [p for p in (version_problem(*check) for check in checks) if p is not None]
    if problems:
        raise ImportError('; '.join(problems) + '. ' + INSTALL_HINT)
