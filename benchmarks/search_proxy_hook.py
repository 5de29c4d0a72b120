"""Hook of ``benchmarks/search_proxy.py`` (imported by its configs): x' before and after a phase.

Before and after the first search phase it draws ``x'`` for a fixed set of images (the
training subset through the test pipeline, ``draws`` times, with the same random draws both
times) and scores teacher and student on them: top-1, the share the teacher gets right and
the student wrong, the mean ``tau**2 KL(T || S)`` at the KD temperature, and the true-class
probabilities. It writes them, with the policy, to ``<work_dir>/proxy.json`` and logs the
share after the phase as ``proxy/trsw_after``. Two more candidate proxies, for
``benchmarks/proxy_vs_study.py``: ``teacher_py_std`` (the standard deviation over images of the
teacher's true-class probability on ``x'``, averaged over the draws: lower predicted a better
student across augmentation schemes in Wang et al., NeurIPS 2022) and, from
:func:`lookahead_scores`, ``heldout_gain`` (how much one virtual distillation step on
``[x'; x]`` lowers the student's loss on held-out images: what ``tst_mm.StudentLookahead``
climbs) beside ``heldout_gain_kd`` (the same step on ``[x; x]``, plain KD).
"""
import copy
import json
import os.path as osp
import random
from collections import defaultdict
from typing import Dict

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from tst_mm.distill.virtual_step import build_virtual_step
from tst_mm.utils.unwrap import unwrap_model

__all__ = ['SearchProxyHook', 'x_prime_scores', 'lookahead_scores']

#: Seed of the first draw; draw ``k`` uses ``DRAW_SEED + k`` (the same before and after).
DRAW_SEED = 10_000


def _seeded_draws(draws: int):
    """Yield ``0..draws-1``, seeding python, numpy and torch for each draw as
    :data:`DRAW_SEED` says (inside a forked torch random state)."""
    with torch.random.fork_rng(devices=[]):
        for draw in range(draws):
            random.seed(DRAW_SEED + draw)
            np.random.seed(DRAW_SEED + draw)
            torch.manual_seed(DRAW_SEED + draw)
            yield draw


def _logits(classifier, inputs: torch.Tensor) -> torch.Tensor:
    return classifier.head(classifier.extract_feat(inputs)).float()


@torch.no_grad()
def x_prime_scores(distiller, loader, draws: int, tau: float) -> Dict[str, float]:
    """Teacher and student on ``x'`` (``draws`` augmentations of every image of ``loader``).

    Student and teacher are scored in eval mode; the augmenter stays in training mode, so
    ``x'`` are drawn as distillation steps draw them. Python's, numpy's and torch's random
    states are restored afterwards.

    Returns:
        Shares in ``[0, 1]``: ``teacher_top1``, ``student_top1``, ``trsw`` (teacher right,
        student wrong), ``both_wrong``, and on the clean images ``teacher_top1_clean``,
        ``student_top1_clean``; means ``teacher_py``, ``student_py`` and ``kl`` (``tau**2``
        KL(teacher || student) at temperature ``tau``).
    """
    student, teacher = distiller.student, distiller.teacher
    modes = student.training, teacher.training
    student.eval()
    teacher.eval()
    sums: Dict[str, float] = defaultdict(float)
    counts: Dict[str, int] = defaultdict(int)
    teacher_py = []  # per draw, the teacher's true-class probability of every image
    states = random.getstate(), np.random.get_state()
    try:
        for draw in _seeded_draws(draws):
            teacher_py.append([])
            for batch in loader:
                data = distiller.data_preprocessor(batch, True)
                inputs, samples = data['inputs'], data['data_samples']
                labels = torch.cat([sample.gt_label for sample in samples])
                if draw == 0:
                    for role, model in (('teacher', teacher), ('student', student)):
                        right = _logits(model, inputs).argmax(1) == labels
                        sums[f'{role}_top1_clean'] += float(right.sum())
                        counts[f'{role}_top1_clean'] += len(labels)
                aug, _ = distiller.augmenter(inputs, samples)
                t_logits, s_logits = _logits(teacher, aug), _logits(student, aug)
                t_right = t_logits.argmax(1) == labels
                s_right = s_logits.argmax(1) == labels
                log_t = torch.log_softmax(t_logits / tau, 1)
                log_s = torch.log_softmax(s_logits / tau, 1)
                values = {
                    'teacher_top1': t_right, 'student_top1': s_right,
                    'trsw': t_right & ~s_right, 'both_wrong': ~t_right & ~s_right,
                    'teacher_py': t_logits.softmax(1).gather(1, labels[:, None])[:, 0],
                    'student_py': s_logits.softmax(1).gather(1, labels[:, None])[:, 0],
                    'kl': (log_t.exp() * (log_t - log_s)).sum(1) * tau**2,
                }
                for key, value in values.items():
                    sums[key] += float(value.float().sum())
                    counts[key] += len(labels)
                teacher_py[-1].append(values['teacher_py'])
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        student.train(modes[0])
        teacher.train(modes[1])
    scores = {key: sums[key] / counts[key] for key in sums}
    per_image = torch.stack([torch.cat(draw) for draw in teacher_py]).mean(0)
    scores['teacher_py_std'] = float(per_image.std())
    return scores


def _virtual_gain(step) -> float:
    """How much the step's held-out loss falls after one SGD step on its training loss."""
    params = {name: value.detach().requires_grad_() for name, value in step.params.items()}
    grads = torch.autograd.grad(step.train_loss(params), list(params.values()),
                                allow_unused=True)
    with torch.no_grad():
        after = {name: value - step.lr * grad if grad is not None else value
                 for (name, value), grad in zip(params.items(), grads)}
        return float(step.heldout_loss(params) - step.heldout_loss(after))


def lookahead_scores(distiller, loader, draws: int, lr: float) -> Dict[str, float]:
    """Held-out gain of one virtual distillation step on ``x'`` and on plain KD.

    Each batch of ``loader`` is split in two halves: a virtual SGD step (at ``lr``, the run's
    own distillation losses, student in train mode on copies of its buffers) on
    ``[x'; x]`` of the first, and the loss on the second before and after it. The same step
    on ``[x; x]`` (what plain KD teaches) gives ``heldout_gain_kd``. The same random draws as
    :func:`x_prime_scores`; random states are restored afterwards.

    Returns:
        ``heldout_gain`` and ``heldout_gain_kd``: means over batches and draws of the fall of
        the held-out loss (positive: the step helped); a learned weight of ``x'`` weighs it
        in the first.
    """
    student = distiller.student
    params = {name: param for name, param in student.named_parameters() if param.requires_grad}
    weight = getattr(distiller.augmenter, 'x_prime_weight', None)
    x_prime_weight = None if weight is None or weight() is None else weight().detach()
    gains: Dict[str, list] = defaultdict(list)
    states = random.getstate(), np.random.get_state()
    try:
        for _ in _seeded_draws(draws):
            for batch in loader:
                data = distiller.data_preprocessor(batch, True)
                inputs, samples = data['inputs'], data['data_samples']
                half = inputs.size(0) // 2
                clean, clean_samples = inputs[:half], samples[:half]
                with torch.no_grad():
                    aug, aug_samples = distiller.augmenter(clean,
                                                           copy.deepcopy(clean_samples))
                for key, first, weight in (
                        ('heldout_gain', (aug, aug_samples), x_prime_weight),
                        ('heldout_gain_kd', (clean, clean_samples), None)):
                    step = build_virtual_step(
                        student, distiller.teacher, distiller.adapter,
                        distiller.distill_losses, params, lr, *first, clean,
                        clean_samples, inputs[half:], samples[half:],
                        teacher_correct_only=distiller.teacher_correct_only,
                        x_prime_weight=weight)
                    gains[key].append(_virtual_gain(step))
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    return {key: float(np.mean(values)) for key, values in gains.items()}


@HOOKS.register_module()
class SearchProxyHook(Hook):
    """Score ``x'`` before and after the first search phase; write ``proxy.json``.

    Args:
        loader: Dataloader config of the fixed images (the training subset, test pipeline).
        draws: Augmentations of each image per measurement.
        tau: KD temperature of the KL column.
    """

    def __init__(self, loader: dict, draws: int = 4, tau: float = 4.0) -> None:
        self.loader_cfg = loader
        self.draws = draws
        self.tau = tau
        self.records: Dict[str, dict] = {}

    def _record(self, runner, when: str) -> None:
        distiller = unwrap_model(runner.model)
        if not hasattr(self, 'loader'):
            self.loader = runner.build_dataloader(self.loader_cfg)
        scores = x_prime_scores(distiller, self.loader, self.draws, self.tau)
        lr = runner.optim_wrapper['student'].param_groups[0]['lr']
        scores.update(lookahead_scores(distiller, self.loader, self.draws, lr))
        self.records[when] = dict(scores=scores, policy=distiller.augmenter.policy())
        runner.logger.info(f'search proxy, x\' {when} the phase: ' +
                           ', '.join(f'{key} {value:.4f}' for key, value in scores.items()))

    def before_search_phase(self, runner, epoch: int) -> None:
        """Score the policy the phase starts from (the first phase only)."""
        if 'before' not in self.records:
            self._record(runner, 'before')

    def after_search_phase(self, runner, epoch: int) -> None:
        """Score the searched policy and write ``proxy.json`` (the first phase only)."""
        if 'after' in self.records:
            return
        self._record(runner, 'after')
        with open(osp.join(runner.work_dir, 'proxy.json'), 'w') as f:
            json.dump(self.records, f, indent=1)
        runner.visualizer.add_scalars(
            {'proxy/trsw_after': self.records['after']['scores']['trsw']}, step=0)
