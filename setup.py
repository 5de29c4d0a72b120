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


setup(
    name='tst_mm',
    version=read_version(),
    description='TST (Teaching What You Should Teach) distillation for OpenMMLab',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['tst_mm', 'tst_mm.*']),
    python_requires='>=3.11',
    install_requires=read_requirements('requirements.txt'),
    extras_require={'tests': read_requirements('requirements-tests.txt')},
    license='Apache-2.0',
)
