"""Hook of ``benchmarks/search_proxy.py`` (imported by its configs): x' before and after a phase.

Before and after the first search phase it draws ``x'`` for a fixed set of images (the
training subset through the test pipeline, ``draws`` times, with the same random draws both
times) and scores teacher and student on them: top-1, the share the teacher gets right and
the student wrong, the mean ``tau**2 KL(T || S)`` at the KD temperature, and the true-class
probabilities. It writes them, with the policy, to ``<work_dir>/proxy.json`` and logs the
share after the phase as ``proxy/trsw_after``.
"""
import json
import os.path as osp
import random
from collections import defaultdict
from typing import Dict

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from tst_mm.utils.unwrap import unwrap_model

__all__ = ['SearchProxyHook', 'x_prime_scores']

#: Seed of the first draw; draw ``k`` uses ``DRAW_SEED + k`` (the same before and after).
DRAW_SEED = 10_000


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
    states = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            for draw in range(draws):
                random.seed(DRAW_SEED + draw)
                np.random.seed(DRAW_SEED + draw)
                torch.manual_seed(DRAW_SEED + draw)
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
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        student.train(modes[0])
        teacher.train(modes[1])
    return {key: sums[key] / counts[key] for key in sums}


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
