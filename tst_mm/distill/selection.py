"""Per-sample selection of ``x'`` (not in the paper): draw several candidates per image from the
fixed augmenter and keep, per image, the one a score ranks highest.

``model.x_prime_selection=dict(type='tst_mm.BestOfK', k=2,
score=dict(type='tst_mm.TeacherStudentKL'))`` in a ``tst_mm.TSTDistiller`` config turns it on
for the distillation steps (the search steps are unchanged). Classification only.

Scores are registered modules (:class:`SelectionScore`) in ``tst_mm.registry.MODELS``:
:class:`TeacherStudentKL` (what KD would teach on the candidate, among the candidates the
teacher gets right) and :class:`StudentEntropy` (how unsure the student is).
"""
import copy
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Tuple, Type, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..registry import MODELS
from .task_adapters import ClassificationAdapter, TaskAdapter

__all__ = ['SelectionScore', 'TeacherStudentKL', 'StudentEntropy', 'XPrimeSelection', 'BestOfK',
           'build_selection']

Augment = Callable[[Tensor, list], Tuple[Tensor, list]]


def _class_logits(classifier: nn.Module, inputs: Tensor) -> Tensor:
    """``(N, C)`` logits of an mmpretrain ``ImageClassifier``."""
    return classifier.head(classifier.extract_feat(inputs))


@contextmanager
def _eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put models in eval mode (no BN statistics updated, no dropout), then back."""
    modes = [model.training for model in models]
    try:
        for model in models:
            model.eval()
        yield
    finally:
        for model, mode in zip(models, modes):
            model.train(mode)


class SelectionScore(nn.Module):
    """How much a candidate ``x'`` is worth teaching on, per image (the highest is kept).

    Subclasses define :meth:`raw`, a score ``>= 0``. With ``teacher_wrong_last``, candidates
    the teacher classifies wrongly (argmax not ``gt_label``) score ``-CE_T(y) < -log 2 < 0``
    instead, so they rank below every candidate it gets right, and among themselves the one
    the teacher is closest to right wins.

    Args:
        tau: Temperature of the softmaxes.
        teacher_wrong_last: Rank the candidates the teacher gets wrong lowest.
    """

    #: Whether :meth:`raw` reads the teacher's logits.
    uses_teacher: bool = False

    def __init__(self, tau: float = 1.0, teacher_wrong_last: bool = False) -> None:
        super().__init__()
        if not tau > 0:
            raise ConfigError(f'{type(self).__name__}: tau must be > 0, got {tau}')
        self.tau = float(tau)
        self.teacher_wrong_last = bool(teacher_wrong_last)

    @property
    def needs_teacher(self) -> bool:
        """Whether :meth:`forward` needs the teacher's logits."""
        return self.uses_teacher or self.teacher_wrong_last

    def raw(self, student_logits: Tensor, teacher_logits: Optional[Tensor]) -> Tensor:
        """``(N,)`` scores ``>= 0`` of the candidates, higher is better.

        Args:
            student_logits: ``(N, C)`` student logits on the candidates.
            teacher_logits: ``(N, C)`` teacher logits, or ``None`` unless
                :attr:`needs_teacher`.
        """
        raise NotImplementedError

    def forward(self, student_logits: Tensor, teacher_logits: Optional[Tensor],
                labels: Tensor) -> Tensor:
        """``(N,)`` scores of the candidates (see the class docstring).

        Args:
            student_logits: ``(N, C)`` student logits on the candidates.
            teacher_logits: ``(N, C)`` teacher logits, or ``None`` unless
                :attr:`needs_teacher`.
            labels: ``(N,)`` class indices (``gt_label``).
        """
        score = self.raw(student_logits.float(),
                         None if teacher_logits is None else teacher_logits.float())
        if self.teacher_wrong_last:
            teacher_logits = teacher_logits.float()
            wrong = teacher_logits.argmax(dim=1) != labels
            score = torch.where(wrong, -F.cross_entropy(teacher_logits, labels, reduction='none'),
                                score)
        return score

    def extra_repr(self) -> str:
        """Show the settings in ``repr``."""
        return f'tau={self.tau}, teacher_wrong_last={self.teacher_wrong_last}'


@MODELS.register_module()
class TeacherStudentKL(SelectionScore):
    r""":math:`\mathrm{KL}(p_T \,\|\, p_S)` at temperature ``tau``: how much KD has to teach on
    the candidate; by default only among the candidates the teacher gets right (the others
    rank lowest, see :class:`SelectionScore`).

    Args:
        tau: Temperature of both softmaxes.
        teacher_wrong_last: Rank the candidates the teacher gets wrong lowest.
    """

    uses_teacher = True

    def __init__(self, tau: float = 1.0, teacher_wrong_last: bool = True) -> None:
        super().__init__(tau, teacher_wrong_last)

    def raw(self, student_logits: Tensor, teacher_logits: Optional[Tensor]) -> Tensor:
        """See :meth:`SelectionScore.raw`."""
        log_t = F.log_softmax(teacher_logits / self.tau, dim=1)
        log_s = F.log_softmax(student_logits / self.tau, dim=1)
        return (log_t.exp() * (log_t - log_s)).sum(dim=1).clamp(min=0.0)


@MODELS.register_module()
class StudentEntropy(SelectionScore):
    """Entropy of the student's prediction at temperature ``tau``: the candidate the student
    is least sure about. Runs no teacher unless ``teacher_wrong_last``.

    Args:
        tau: Temperature of the softmax.
        teacher_wrong_last: Rank the candidates the teacher gets wrong lowest.
    """

    def raw(self, student_logits: Tensor, teacher_logits: Optional[Tensor]) -> Tensor:
        """See :meth:`SelectionScore.raw`."""
        log_s = F.log_softmax(student_logits / self.tau, dim=1)
        return (-(log_s.exp() * log_s).sum(dim=1)).clamp(min=0.0)


class XPrimeSelection(nn.Module):
    """How a distillation step draws ``x'`` from the augmenter (base of the selections).

    :meth:`forward` runs without gradients, after the augmenter is fixed; it must not change
    the student's or the teacher's state (BN statistics).
    """

    def forward(self, augment: Augment, inputs: Tensor, data_samples: List, student: nn.Module,
                teacher: nn.Module) -> Tuple[Tensor, List]:
        """``x'`` and its data samples for the images ``inputs``.

        Args:
            augment: The augmenter, called as ``augment(inputs, data_samples)``; it may be
                called several times and must get copies of the samples.
            inputs: ``(N, C, H, W)`` the images to augment (preprocessed).
            data_samples: Their data samples (never modified).
            student, teacher: The two classifiers.

        Returns:
            ``(N, C, H, W)`` augmented images and their ``N`` data samples.
        """
        raise NotImplementedError


@MODELS.register_module()
class BestOfK(XPrimeSelection):
    """Draw ``k`` candidates per image from the augmenter, keep the one ``score`` ranks highest.

    Each candidate is one call of the augmenter on the images (its own op draw, gates, signs
    and, with mixing ops, partners), so candidate ``j`` of an image is what ``x'`` would be in a
    step without selection. The scores are computed with student and teacher in eval mode (BN
    running statistics, no dropout; neither model's state changes) and without gradients: the
    extra cost per distillation step is ``k`` augmenter calls and ``k`` forward passes of the
    student (and of the teacher, when the score needs it) on the augmented share of the batch.
    Ties keep the first candidate. ``k=1`` returns the augmenter's one draw. The augmenter's
    ``last_*`` attributes describe the last candidate drawn, not the ones kept.

    Args:
        k: Candidates per image (>= 1).
        score: Config of a registered :class:`SelectionScore`; default
            ``tst_mm.TeacherStudentKL``.

    Attributes:
        last_scores: ``(k, N)`` scores of the last call's candidates (``None`` before).
        last_choice: ``(N,)`` index of the candidate kept for each image.
    """

    def __init__(self, k: int = 2, score: Optional[dict] = None) -> None:
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f'BestOfK: k must be an integer >= 1, got {k!r}')
        self.k = k
        try:
            self.score = MODELS.build(score or dict(type='tst_mm.TeacherStudentKL'))
        except KeyError as err:  # the registry's "not in the registry" message
            raise ConfigError(f'BestOfK score: {err.args[0] if err.args else err}') from None
        if not isinstance(self.score, SelectionScore):
            raise ConfigError(f'BestOfK: score must build a tst_mm selection score (e.g. '
                              f'tst_mm.TeacherStudentKL), got {type(self.score).__name__}')
        self.last_scores: Optional[Tensor] = None
        self.last_choice: Optional[Tensor] = None

    @torch.no_grad()
    def forward(self, augment: Augment, inputs: Tensor, data_samples: List, student: nn.Module,
                teacher: nn.Module) -> Tuple[Tensor, List]:
        """See :meth:`XPrimeSelection.forward`."""
        candidates = [augment(inputs, copy.deepcopy(data_samples)) for _ in range(self.k)]
        labels = torch.cat([sample.gt_label for sample in data_samples]).to(inputs.device)
        scores = []
        with _eval_mode(student, teacher):
            for images, _ in candidates:
                teacher_logits = (_class_logits(teacher, images) if self.score.needs_teacher
                                  else None)
                scores.append(self.score(_class_logits(student, images), teacher_logits,
                                         labels))
        self.last_scores = torch.stack(scores)
        self.last_choice = self.last_scores.argmax(dim=0)
        rows = torch.arange(inputs.shape[0], device=inputs.device)
        images = torch.stack([images for images, _ in candidates])[self.last_choice, rows]
        samples = [candidates[j][1][i] for i, j in enumerate(self.last_choice.tolist())]
        return images, samples

    def extra_repr(self) -> str:
        """Show ``k`` in ``repr``."""
        return f'k={self.k}'


def build_selection(cfg: Optional[dict], adapter: Union[TaskAdapter, Type[TaskAdapter]],
                    augmenter: Optional[nn.Module]) -> Optional[XPrimeSelection]:
    """The distiller's ``x_prime_selection``, refused in one line where it cannot work.

    Args:
        cfg: The ``x_prime_selection`` key (``None``: one draw per image, as in the paper).
        adapter: The distiller's task adapter (or its type).
        augmenter: The distiller's augmenter.

    Raises:
        ConfigError: For a task other than classification, a distiller without augmenter,
            an unknown type, or a type that is no :class:`XPrimeSelection`.
    """
    if cfg is None:
        return None
    adapter_type = adapter if isinstance(adapter, type) else type(adapter)
    if not issubclass(adapter_type, ClassificationAdapter):
        raise ConfigError(f'model.x_prime_selection is classification-only for now; a '
                          f'{adapter.task} distiller takes none: drop it')
    if augmenter is None:
        raise ConfigError('model.x_prime_selection selects among draws of the augmenter, but '
                          'model.augmenter is None')
    try:
        selection = MODELS.build(cfg)
    except KeyError as err:
        raise ConfigError(f'model.x_prime_selection: {err.args[0] if err.args else err}'
                          ) from None
    if not isinstance(selection, XPrimeSelection):
        raise ConfigError(f'model.x_prime_selection must build a selection (e.g. '
                          f'tst_mm.BestOfK), got {type(selection).__name__}')
    return selection
