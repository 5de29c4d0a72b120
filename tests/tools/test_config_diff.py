"""tools/config_diff.py lets a config refactor drop a key only where the constructor of the
part it configured gives the same value."""
from tst_testing import load_script

config_diff = load_script('tools/config_diff.py')

OLD = dict(model=dict(
    type='tst_mm.TSTDistiller', augment_ratio=1.0,
    search_loss_weights=dict(teacher=1.0, weakness=1.0),
    augmenter=dict(type='tst_mm.LearnableAugmenter', num_ops=4),
    distill_losses=dict(kd=dict(type='tst_mm.KDLoss', tau=1.0))),
    train_cfg=dict(type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=2, val_interval=1))


def verdicts(new: dict) -> dict:
    return {path: config_diff.judge(kind, path, old, OLD, ['model_wrapper_cfg'])
            for kind, path, old, _ in config_diff.differences(OLD, new)}


def test_defaults_may_go_other_values_may_not():
    new = dict(model=dict(type='tst_mm.TSTDistiller',
                          augmenter=dict(type='tst_mm.LearnableAugmenter'),
                          distill_losses=dict(kd=dict(type='tst_mm.KDLoss'))),
               train_cfg=dict(type='tst_mm.TSTEpochBasedTrainLoop', max_epochs=3),
               model_wrapper_cfg=dict(type='tst_mm.TSTDistributedWrapper'), extra=1)
    assert verdicts(new) == {
        '.model.augment_ratio': '',
        '.model.search_loss_weights': '',  # None, which the distiller fills in as 1 / 1
        '.model.augmenter.num_ops': '',
        '.model.distill_losses.kd.tau': 'tst_mm.KDLoss defaults tau to 4.0',
        '.train_cfg.val_interval': '',
        '.train_cfg.max_epochs': 'changed',
        '.model_wrapper_cfg': '',
        '.extra': 'added',
    }
