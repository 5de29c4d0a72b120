"""The losses are built from configs through tst-mm's and mmengine's registries."""
import mmengine.registry
import pytest
from mmengine.registry import DefaultScope

import tst_mm  # noqa: F401  (registers everything)
from tst_mm import losses
from tst_mm.registry import MODELS

NAMES = sorted(losses.__all__)


@pytest.mark.parametrize('name', NAMES)
def test_build_from_tst_mm_registry(name):
    # unscoped names resolve in the current default scope, which earlier test modules may
    # have left at mmdet / mmseg: make it tst_mm's for this build
    with DefaultScope.overwrite_default_scope('tst_mm'):
        loss = MODELS.build(dict(type=name, loss_weight=0.5))
    assert type(loss).__name__ == name and loss.loss_weight == 0.5


@pytest.mark.parametrize('name', NAMES)
def test_build_scoped_from_mmengine_root(name):
    # a scoped name resolves whatever the default scope, e.g. inside an mmdet config
    with DefaultScope.overwrite_default_scope('mmdet'):
        loss = mmengine.registry.MODELS.build(dict(type=f'tst_mm.{name}'))
    assert isinstance(loss, getattr(losses, name))


def test_build_with_arguments():
    kd = MODELS.build(dict(type='tst_mm.KDLoss', tau=1.0, reduction='sum'))
    assert kd.tau == 1.0 and kd.reduction == 'sum'
