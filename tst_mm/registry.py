"""Registries of tst-mm, children of mmengine's root registries under the scope ``tst_mm``.

Configs refer to anything registered here as ``type='tst_mm.Name'``. Because these are siblings
of mmdet's, mmseg's and mmpretrain's registries, a config whose ``default_scope`` is one of
those toolboxes can still build ``tst_mm.*`` objects, and the plain ``type='ResNet'`` dicts
inside a ``tst_mm`` model resolve in the toolbox's scope.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

__all__ = [
    'MODELS', 'MODEL_WRAPPERS', 'HOOKS', 'LOOPS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
    'METRICS', 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'VISUALIZERS', 'VISBACKENDS'
]

SCOPE = 'tst_mm'


def _child(parent: Registry, name: str) -> Registry:
    """Make a child of an mmengine root registry in the ``tst_mm`` scope.

    ``locations=['tst_mm']`` lets mmengine import the whole package (which registers every
    module) the first time something is built in this scope.
    """
    return Registry(name, parent=parent, scope=SCOPE, locations=['tst_mm'])


MODELS = _child(MMENGINE_MODELS, 'model')
MODEL_WRAPPERS = _child(MMENGINE_MODEL_WRAPPERS, 'model_wrapper')
HOOKS = _child(MMENGINE_HOOKS, 'hook')
LOOPS = _child(MMENGINE_LOOPS, 'loop')
DATASETS = _child(MMENGINE_DATASETS, 'dataset')
DATA_SAMPLERS = _child(MMENGINE_DATA_SAMPLERS, 'data sampler')
TRANSFORMS = _child(MMENGINE_TRANSFORMS, 'transform')
METRICS = _child(MMENGINE_METRICS, 'metric')
OPTIMIZERS = _child(MMENGINE_OPTIMIZERS, 'optimizer')
OPTIM_WRAPPERS = _child(MMENGINE_OPTIM_WRAPPERS, 'optim_wrapper')
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'optimizer wrapper constructor')
PARAM_SCHEDULERS = _child(MMENGINE_PARAM_SCHEDULERS, 'parameter scheduler')
VISUALIZERS = _child(MMENGINE_VISUALIZERS, 'visualizer')
VISBACKENDS = _child(MMENGINE_VISBACKENDS, 'vis_backend')
