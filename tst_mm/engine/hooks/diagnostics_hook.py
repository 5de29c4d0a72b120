"""Per-epoch means of TST's diagnostics, and the student's accuracy on its own training data."""
import copy
from typing import Dict

import torch
from mmengine.hooks import Hook

from ...errors import ConfigError
from ...registry import HOOKS

__all__ = ['TSTDiagnosticsHook', 'DIAGNOSTIC_PREFIXES']

#: Log variables (``train/<name>`` in the message hub) averaged per epoch.
DIAGNOSTIC_PREFIXES = ('diag.', 'distill.dropped_aug')


@HOOKS.register_module()
class TSTDiagnosticsHook(Hook):
    """Log what explains a TST run: how teacher and student do on ``x'``, and over-fitting.

    After every training epoch, the epoch means of the distillation step's diagnostic log
    variables — ``diag.teacher_top1_aug`` / ``diag.student_top1_aug`` (share of augmented
    samples classified right), ``diag.teacher_py_aug`` / ``diag.student_py_aug`` (mean
    true-class probability on ``x'``) and ``distill.dropped_aug`` (share left out by
    ``teacher_correct_only``) — are logged in one line and as ``epoch/<name>`` scalars.
    (The search losses' pass means and the augmenter lr are logged by the TST loops.)

    With ``eval_train_subset``, after training the student is evaluated on the training data
    (the train dataset with the test pipeline, so no crop / flip / augmenter) with the
    validation evaluator, logged as ``train_subset/<metric>``: train accuracy far above test
    accuracy says the student has capacity to spare and over-fits its subset.

    Args:
        eval_train_subset: Evaluate the student on its training data after training.
    """

    priority = 'LOW'

    def __init__(self, eval_train_subset: bool = False) -> None:
        self.eval_train_subset = eval_train_subset
        self._epoch_start_iter = 0

    def before_train(self, runner) -> None:
        self._epoch_start_iter = runner.iter
        if self.eval_train_subset and 'pipeline' not in runner.cfg.train_dataloader.dataset:
            raise ConfigError('TSTDiagnosticsHook(eval_train_subset=True) swaps the train '
                              'dataset\'s pipeline for the test one, but train_dataloader.dataset '
                              'has no pipeline key (a wrapped dataset?); switch the option off')

    def before_train_epoch(self, runner) -> None:
        self._epoch_start_iter = runner.iter

    def after_train_epoch(self, runner) -> None:
        iters = runner.iter - self._epoch_start_iter
        means = epoch_means(runner.message_hub, iters)
        if not means:
            return
        runner.visualizer.add_scalars({f'epoch/{key}': value for key, value in means.items()},
                                      step=runner.iter)
        runner.logger.info(f'TST diagnostics, epoch {runner.epoch + 1} means: ' + ', '.join(
            f'{key}: {value:.4f}' for key, value in means.items()))

    def after_train(self, runner) -> None:
        if not self.eval_train_subset:
            return
        metrics = evaluate_on_train_data(runner)
        scalars = {f'train_subset/{key}': value for key, value in metrics.items()}
        runner.visualizer.add_scalars(scalars, step=runner.iter)
        runner.logger.info('Student on its training data (test pipeline): ' + ', '.join(
            f'{key}: {value:.4f}' for key, value in metrics.items()))


def epoch_means(message_hub, iters: int) -> Dict[str, float]:
    """Means over the last ``iters`` training iterations of the diagnostic log variables."""
    if iters < 1:
        return {}
    means = {}
    for key, buffer in message_hub.log_scalars.items():
        name = key[len('train/'):] if key.startswith('train/') else None
        if name and name.startswith(DIAGNOSTIC_PREFIXES):
            means[name] = float(buffer.mean(iters))
    return means


def evaluate_on_train_data(runner) -> Dict[str, float]:
    """Evaluate the runner's model on its training data with the test pipeline.

    Returns:
        The validation evaluator's metrics (e.g. ``accuracy/top1``).
    """
    cfg = copy.deepcopy(runner.cfg.train_dataloader)
    test_cfg = runner.cfg.get('test_dataloader') or runner.cfg.val_dataloader
    cfg.dataset.pipeline = copy.deepcopy(test_cfg.dataset.pipeline)
    cfg.sampler = dict(type='DefaultSampler', shuffle=False)
    cfg.batch_size = test_cfg.batch_size
    cfg.pop('batch_sampler', None)
    loader = runner.build_dataloader(cfg, seed=runner.seed)
    evaluator = runner.build_evaluator(copy.deepcopy(runner.cfg.val_evaluator))
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
    model = runner.model
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for data_batch in loader:
            evaluator.process(data_samples=model.val_step(data_batch), data_batch=data_batch)
    model.train(was_training)
    return evaluator.evaluate(len(loader.dataset))
