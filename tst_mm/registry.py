"""Registries of tst-mm under the scope ``tst_mm``.

Configs refer to anything registered here as ``type='tst_mm.Name'``. The first seven are
children of mmengine's root registries: because they are siblings of mmdet's, mmseg's and
mmpretrain's, a config whose ``default_scope`` is one of those toolboxes can still build
``tst_mm.*`` objects, and the plain ``type='ResNet'`` dicts inside a ``tst_mm`` model resolve in
the toolbox's scope.

Two registries are TST's own (mmengine has no parent for them): :data:`AUGMENT_OPS` (the op
pool of ``tst_mm.LearnableAugmenter``, keyed by the op name configs write in ``ops=[...]``) and
:data:`TASK_ADAPTERS` (what TST needs to know about a task; the distiller picks the first, in
registration order, whose ``matches(model)`` is true). A user's package adds to either by
registering into it at import time, loaded with ``custom_imports`` in the config.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

__all__ = [
    'MODELS', 'MODEL_WRAPPERS', 'HOOKS', 'LOOPS', 'DATASETS', 'DATA_SAMPLERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'AUGMENT_OPS', 'TASK_ADAPTERS'
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
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'optimizer wrapper constructor')

#: Augmentation ops (subclasses of ``tst_mm.augment.AugmentOp``), keyed by op name.
AUGMENT_OPS = Registry('augment op', scope=SCOPE, locations=['tst_mm.augment.ops'])
#: Task adapters (subclasses of ``tst_mm.distill.TaskAdapter``), tried in registration order.
TASK_ADAPTERS = Registry('task adapter', scope=SCOPE, locations=['tst_mm.distill.task_adapters'])
