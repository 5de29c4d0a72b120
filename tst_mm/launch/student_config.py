"""Turn a TST config into a plain config of its student, for stock tools and baselines."""
from mmengine.config import Config

from ..distill.model_config import resolve_model_config
from ..distill.update import STUDENT

__all__ = ['student_config']


def student_config(cfg: Config) -> Config:
    """A copy of ``cfg`` with the TST parts replaced by the student's plain equivalents.

    The model becomes the student, the optimizer and schedulers the student's, a TST loop the
    matching stock loop, tst_mm hooks and imports are dropped; data, evaluators and runtime
    stay. The result trains or tests the student with stock mmpretrain / mmdet / mmseg alone
    (e.g. the "student alone" baseline, or testing an exported student).

    Args:
        cfg: A loaded TST config (``model.type`` is ``tst_mm.TSTDistiller``).

    Returns:
        The plain config.
    """
    cfg = cfg.copy()
    cfg.model = resolve_model_config(cfg.model.student, STUDENT)
    optim_wrapper = cfg.get('optim_wrapper', {})
    if STUDENT in optim_wrapper:
        cfg.optim_wrapper = optim_wrapper[STUDENT]
    if isinstance(cfg.get('param_scheduler'), dict) and STUDENT in cfg.param_scheduler:
        cfg.param_scheduler = cfg.param_scheduler[STUDENT]
    train_cfg = cfg.get('train_cfg', {})
    if 'tst_mm.' in str(train_cfg.get('type', '')) and 'max_iters' in train_cfg:
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=train_cfg['max_iters'],
                             val_interval=train_cfg.get('val_interval', 1000))
    elif 'tst_mm.' in str(train_cfg.get('type', '')):
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=train_cfg['max_epochs'],
                             val_interval=train_cfg.get('val_interval', 1))
    cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks', [])
                        if not str(hook.get('type', '')).startswith('tst_mm.')]
    cfg.pop('custom_imports', None)
    cfg.pop('model_wrapper_cfg', None)
    cfg.load_from = None
    return cfg
