from setuptools import find_packages, setup

setup(
    name='cnx2_backbone',
    version='0.1.0',
    description='ConvNeXt V2 backbone and FCMAE pretraining for mmdet and mmsegmentation',
    packages=find_packages(include=['cnx2_backbone', 'cnx2_backbone.*']),
    python_requires='>=3.9',
    # The mm stack is pinned by scripts/install_env.sh because mmcv must be
    # compiled with its C++ ops; these are the ranges the plugin accepts.
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'numpy',
        'pillow',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0,<3.4.0'],
        'seg': ['mmsegmentation>=1.0.0,<1.3.0'],
        'tests': ['pytest', 'timm', 'transformers'],
    },
)
