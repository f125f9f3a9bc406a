#!/usr/bin/env bash
# Create .venv with the pinned stack. Safe to run again: each step is skipped
# when its package is already installed at the pinned version.
#
# mmcv 2.1.0 ships only as source on PyPI, and its C++ ops (RoIAlign, NMS) are
# needed by Mask R-CNN, so it is compiled here once (11-25 minutes on 2 cores)
# and the wheel is cached under $CNX2_CACHE, keyed by the mmcv, torch and
# Python versions, so that later clones reuse it.
set -euo pipefail

VENV=$(realpath -m "${VENV:-.venv}")
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
# mmcv's setup.py and mmengine import pkg_resources at run time: setuptools 84
# removed it and torch 2.14 needs at least 77.
SETUPTOOLS_VERSION=80.9.0
CNX2_CACHE=${CNX2_CACHE:-$HOME/.cache/cnx2_backbone}

log() { printf '[install] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

has_version() {  # has_version DIST VERSION
    [ "$("$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]
}

has_version setuptools "$SETUPTOOLS_VERSION" || {
    log "installing setuptools $SETUPTOOLS_VERSION, wheel, ninja"
    "${PIP[@]}" "setuptools==$SETUPTOOLS_VERSION" wheel ninja
}

has_version torch "$TORCH_VERSION" && has_version torchvision "$TORCHVISION_VERSION" || {
    log "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION (large download on a new machine)"
    # --no-compile: byte-compiling torch's many files costs more than it saves here.
    "${PIP[@]}" --no-compile "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
}

# numpy < 2: mmcv 2.1.0, mmdet 3.3.0 and mmseg 1.2.2 predate numpy 2.
"${PIP[@]}" "numpy<2" "setuptools==$SETUPTOOLS_VERSION" "mmengine==$MMENGINE_VERSION" \
    opencv-python-headless pycocotools pytest pillow

if ! has_version mmcv "$MMCV_VERSION"; then
    PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')
    CUDA_TAG=cpu
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \
        && "$PY" -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)'; then
        CUDA_TAG=cuda
    fi
    WHEEL_DIR="$CNX2_CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PY_TAG-$CUDA_TAG"
    mkdir -p "$WHEEL_DIR"
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        log "building mmcv $MMCV_VERSION with its C++ ops ($CUDA_TAG); this takes 11-25 minutes on 2 cores, once per machine"
        BUILD_DIR=$(mktemp -d)
        "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
            "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
        tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
        SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
        # torch 2.14 headers use C++20 features; mmcv 2.1.0 asks for C++17.
        sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        export MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
        if [ "$CUDA_TAG" = cuda ]; then export FORCE_CUDA=1; else export FORCE_CUDA=0; fi
        (cd "$SRC" && "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation \
            --no-deps -w "$BUILD_DIR/dist" . ) > "$BUILD_DIR/build.log" 2>&1 || {
            log "mmcv build failed; last lines of $BUILD_DIR/build.log:"
            tail -n 40 "$BUILD_DIR/build.log"
            exit 1
        }
        cp "$BUILD_DIR"/dist/mmcv-*.whl "$WHEEL_DIR/.tmp.whl"
        mv "$WHEEL_DIR/.tmp.whl" "$WHEEL_DIR/$(basename "$BUILD_DIR"/dist/mmcv-*.whl)"
        rm -rf "$BUILD_DIR"
    else
        log "reusing cached mmcv wheel from $WHEEL_DIR"
    fi
    "${PIP[@]}" --no-deps "$WHEEL_DIR"/mmcv-*.whl
    # mmcv's own run-time requirements (pip --no-deps skipped them).
    "${PIP[@]}" addict packaging pyyaml yapf
fi

has_version mmdet "$MMDET_VERSION" && has_version mmsegmentation "$MMSEG_VERSION" || {
    log "installing mmdet $MMDET_VERSION and mmsegmentation $MMSEG_VERSION"
    "${PIP[@]}" "numpy<2" "mmdet==$MMDET_VERSION" "mmsegmentation==$MMSEG_VERSION" ftfy regex
}

if [ "${CNX2_TEST_PEERS:-1}" = 1 ]; then
    # Test-only peers for numerical parity; the package never imports them.
    "$PY" -c 'import timm, transformers' >/dev/null 2>&1 || {
        log "installing test peers timm and transformers"
        "${PIP[@]}" "numpy<2" timm transformers safetensors
    }
fi

"${PIP[@]}" --no-deps -e .
log "ready: $("$PY" -c 'import torch, mmcv, mmdet, mmseg, mmengine; print(f"torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}")')"
