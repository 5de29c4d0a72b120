"""Packaging for tst-mm: TST data-based distillation as an OpenMMLab plugin."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Return the requirement lines of a requirements file, comments dropped."""
    with open(osp.join(HERE, name), encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    """Read ``__version__`` from ``tst_mm/version.py`` without importing the package."""
    with open(osp.join(HERE, 'tst_mm', 'version.py'), encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


#: What ``import tst_mm`` needs, as compatible ranges, so that installing into an existing
#: OpenMMLab environment keeps its torch and mmcv builds. The exact stack the tests run on is
#: pinned in requirements.txt and installed by tools/install.sh. The lower bounds of torch and
#: numpy are the oldest versions ``import tst_mm`` and the classification path were checked on
#: (README "Installing into an existing environment").
INSTALL_REQUIRES = [
    'torch>=2.13',
    'torchvision',
    'numpy>=1.26',
    'mmengine>=0.10.7,<0.11',  # tst_mm relies on mmengine 0.10 internals (loops, optim wrappers)
    'mmcv>=2.0.0,<2.2.0',  # what mmdet 3.3 and mmseg 1.2 accept
    'mmdet>=3.3.0,<3.4',
    'mmsegmentation>=1.2.2,<1.3',
    'mmpretrain>=1.2.0,<1.3',
    'ftfy',  # mmsegmentation imports ftfy and regex without declaring them
    'regex',
    'kornia>=0.7',
]

setup(
    name='tst_mm',
    version=read_version(),
    description='TST (Teaching What You Should Teach) distillation for OpenMMLab',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['tst_mm', 'tst_mm.*']),
    python_requires='>=3.11',
    install_requires=INSTALL_REQUIRES,
    extras_require={'tests': read_requirements('requirements-tests.txt')},
    license='Apache-2.0',
)
