"""TSTDistiller: distil a student from a frozen teacher on samples a learned augmenter finds."""
import copy
from itertools import chain
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from torch import nn

from ..augment.mixing import match_soft_targets
from ..errors import ConfigError, check_choice, refuses_unknown_settings
from ..registry import MODELS
from ..search_objectives import SearchEvidence, VirtualStep
from ..search_objectives.evidence import VIRTUAL_STEP
from .contract import TSTDistillerContract
from .frozen_teacher import FrozenTeacher, without_teacher
from .model_config import merge_data_preprocessor, resolve_model_config
from .search_objective_config import build_search_objective
from .selection import build_selection
from .task_adapters import adapter_for, adapter_type_for
from .update import AUGMENTER, STUDENT, OptimizedPart, SearchPart
from .virtual_step import build_virtual_step

__all__ = ['TSTDistiller']

#: Steps :meth:`TSTDistiller.set_phase` can choose for the stock ``train_step``.
PHASES = ('distill', 'search')


def _normalisation(model: nn.Module) -> Optional[tuple]:
    """Mean, std and channel-order flag of a model's data preprocessor, if it normalises."""
    preprocessor = getattr(model, 'data_preprocessor', None)
    if preprocessor is None or not getattr(preprocessor, '_enable_normalize', False):
        return None
    return (preprocessor.mean.flatten().tolist(), preprocessor.std.flatten().tolist(),
            bool(getattr(preprocessor, '_channel_conversion', False)))


@MODELS.register_module()
@refuses_unknown_settings()
class TSTDistiller(BaseModel, TSTDistillerContract):
    """TST: "Teaching What You Should Teach" (Shao et al., IJCAI 2023).

    Each training step is either a *distillation* step (:meth:`distill_step`: augmenter
    fixed, student trained on ``[x'; x]`` with its task loss plus KD) or a *search* step
    (:meth:`search_step`: student and teacher frozen, only the augmenter trained to make
    samples the teacher still gets right and the student gets wrong).
    ``tst_mm.TSTEpochBasedTrainLoop`` and ``tst_mm.TSTIterBasedTrainLoop`` call them directly
    (:class:`tst_mm.distill.contract.TSTDistillerContract`); the stock :meth:`train_step`
    is for tools that step the model themselves.

    Write ``type='tst_mm.TSTDistiller'`` without ``_scope_``: the student and teacher dicts then
    resolve in the config's ``default_scope`` (mmpretrain / mmdet / mmseg).

    What the distiller cannot work with is refused when it is built, as a
    :class:`tst_mm.ConfigError` with a one-line message (``tools/train.py`` prints it without
    a traceback): an unknown setting (with "did you mean"), a teacher of another task or with
    other classes or normalisation, a model, KD loss, augmenter or search objective the
    student's task adapter cannot use.

    Args:
        student: Student model config dict, or a config file (``model`` is taken from it).
        teacher: Teacher model config dict or config file, as for ``student``; checked at
            once, built when training first uses it (:attr:`teacher`).
        teacher_ckpt: Path or URL of the teacher's checkpoint, loaded strictly and with
            ``weights_only=True`` when training starts (:meth:`load_teacher`), so testing
            the student never reads or downloads it. ``None`` is refused for training unless
            ``allow_random_teacher``.
        augmenter: Config of the learnable augmenter (e.g. ``tst_mm.LearnableAugmenter``); its
            normalisation is copied from the student's data preprocessor.
        distill_losses: Named KD losses, e.g. ``dict(kd=dict(type='tst_mm.KDLoss', tau=4))``;
            logged as ``distill.loss_<name>``. An entry's ``compares`` field says which
            output it compares (detection ``'cls'`` / ``'neck'``, segmentation ``'decode'`` /
            ``'auxiliary'``); by default the word its name starts with.
        search_objective: What a search step minimises (a registered
            ``tst_mm.SearchObjective``); default the paper's, ``tst_mm.PaperSearchObjective``
            built from ``weakness_loss`` and ``search_loss_weights``. Classification also
            takes ``tst_mm.TeacherGatedObjective`` and ``tst_mm.DisagreementObjective``;
            detection and segmentation take the paper's only.
        weakness_loss: The student-weakness loss of the paper's search objective (default
            ``tst_mm.StudentWeaknessLoss``); with another ``search_objective`` it must stay
            at its default (set it inside the objective's config).
        search_loss_weights: Weights of ``teacher`` (teacher task loss) and ``weakness`` in the
            paper's search objective (default 1.0 each); as ``weakness_loss`` otherwise.
        augment_ratio: Share of each batch that is augmented and added to the batch as ``x'``
            in distillation steps (1.0: the whole batch, as in the paper).
        teacher_correct_only: Teach only what the teacher knows (not in the paper): the KD
            losses leave out the parts of ``x'`` the teacher gets wrong (classification:
            samples whose teacher argmax is not the label; detection: RoIs whose teacher
            class is not their target; segmentation: such pixels), logging their share as
            ``distill.dropped_aug``. The student's task loss still sees all of ``x'``.
        teacher_norm_eval: Keep the teacher in eval mode (BN statistics frozen) at all times.
        allow_random_teacher: Train without ``teacher_ckpt`` (a teacher with random weights),
            e.g. for tests or cost measurements; refused otherwise.
        max_consecutive_skips: Stop training (``TrainingDiverged``, naming the checkpoint to
            resume from) after this many non-finite steps of the student, or of the
            augmenter, in a row (each is skipped and logged as ``student.skipped_steps``, the
            skips so far, or ``augment.skipped``, 1 for a skipped search step).
        x_prime_selection: How distillation steps draw ``x'`` (not in the paper; classification
            only): ``None`` (one draw per image, the paper's) or a registered selection, e.g.
            ``dict(type='tst_mm.BestOfK', k=2, score=dict(type='tst_mm.TeacherStudentKL'))``
            (:mod:`tst_mm.distill.selection`): ``k`` draws per image, the best kept.
        data_preprocessor: Settings for the shared preprocessor, which is the student's: they
            are added to the student's ``data_preprocessor``; one that contradicts it is
            refused (mmengine passes a config's top-level ``data_preprocessor`` here).
        init_cfg: Initialisation config of the distiller (the teacher is never re-initialised).
    """

    def __init__(self,
                 student: Union[dict, str],
                 teacher: Union[dict, str],
                 teacher_ckpt: Optional[str] = None,
                 augmenter: Optional[dict] = None,
                 distill_losses: Optional[Dict[str, dict]] = None,
                 search_objective: Optional[dict] = None,
                 weakness_loss: Optional[dict] = None,
                 search_loss_weights: Optional[dict] = None,
                 augment_ratio: float = 1.0,
                 teacher_correct_only: bool = False,
                 teacher_norm_eval: bool = True,
                 allow_random_teacher: bool = False,
                 max_consecutive_skips: int = 20,
                 x_prime_selection: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 <= augment_ratio <= 1.0:
            raise ConfigError(f'augment_ratio must be in [0, 1], got {augment_ratio}')
        student = resolve_model_config(student, 'student')
        # a preprocessor that contradicts the student's is refused after the checks of the
        # models and TST settings: what cannot work at all is said first
        preprocessor_problem = merge_data_preprocessor(student, data_preprocessor)
        self.student = MODELS.build(student)
        # The teacher is built when training first uses it (:attr:`teacher`): testing the
        # student never builds it. Its config is checked now, on a skeleton without weights.
        self.frozen_teacher = FrozenTeacher(teacher, teacher_ckpt, allow_random_teacher,
                                            teacher_norm_eval)
        # the adapter, bound to the student and to what each KD loss compares
        distill_losses = {name: dict(cfg) for name, cfg in (distill_losses or {}).items()}
        self.adapter = adapter_for(self.student, {name: cfg.pop('compares', None)
                                                  for name, cfg in distill_losses.items()})
        teacher_skeleton = self.frozen_teacher.skeleton()
        self._check_teacher(teacher_skeleton)
        # Share the student's preprocessor: stock evaluators and tools see the student's view.
        self.data_preprocessor = self.student.data_preprocessor

        self.augmenter = MODELS.build(augmenter) if augmenter is not None else None
        if self.augmenter is not None:
            self.adapter.check_augmenter(self.augmenter, self.student)
            if hasattr(self.augmenter, 'follow_task'):  # the task's rules for warped labels
                self.augmenter.follow_task(self.adapter)
            if self._x_prime_weight() is not None and not self.adapter.weighs_x_prime:
                raise ConfigError(f'augmenter.learn_x_prime_weight: the {self.adapter.task} '
                                  'losses cannot weigh x\' apart from x (classification only); '
                                  'drop it')
        if self.augmenter is not None and hasattr(self.augmenter, 'set_normalization'):
            norm = _normalisation(self.student)
            if norm is not None:
                self.augmenter.set_normalization(norm[0], norm[1])
        self.x_prime_selection = build_selection(x_prime_selection, self.adapter, self.augmenter)
        self.distill_losses = nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in distill_losses.items()})
        self.adapter.check_distill_losses(self.distill_losses)
        self.search_objective = build_search_objective(search_objective, weakness_loss,
                                                       search_loss_weights)
        self.adapter.check_search_objective(self.search_objective)
        self.augment_ratio = augment_ratio
        self.teacher_correct_only = bool(teacher_correct_only)
        if self.teacher_correct_only:
            self.adapter.check_teacher_correct_only(self.distill_losses)
        # what the models and TST settings cannot do is refused above; the preprocessing last
        if preprocessor_problem is not None:
            raise ConfigError(preprocessor_problem)
        self._check_normalisation(teacher_skeleton)
        self._tool_phase = 'distill'  # what the stock train_step runs (set_phase)
        self.parts = {
            STUDENT: OptimizedPart(STUDENT, 'distillation',
                                   max_consecutive_skips=max_consecutive_skips),
            AUGMENTER: SearchPart(AUGMENTER, 'search', keep_params=True,
                                  max_consecutive_skips=max_consecutive_skips)}
        # The teacher is neither saved in checkpoints nor expected when loading them.
        self.frozen_teacher.attach(self)

    # ------------------------------------------------------------------ set-up and checks
    def _check_teacher(self, teacher: nn.Module) -> None:
        """Refuse, in one line, a teacher (built or a skeleton) that cannot teach the student."""
        teacher_adapter = adapter_type_for(teacher)
        if teacher_adapter is not type(self.adapter):
            raise ConfigError(f'teacher is a {teacher_adapter.task} model but the student is a '
                              f'{self.adapter.task} model; use a teacher of the same task')
        self.adapter.check_compatible(teacher)

    def _check_normalisation(self, teacher: nn.Module) -> None:
        """Refuse a teacher that normalises its inputs otherwise than the student."""
        student, teacher = _normalisation(self.student), _normalisation(teacher)
        if student != teacher:
            raise ConfigError(f'teacher and student normalise inputs differently (mean, std, '
                              f'colour conversion): teacher {teacher} vs student {student}; '
                              'both see one preprocessed batch, so give them the same '
                              'data_preprocessor settings')

    # The teacher is built at its first use and is neither trained nor saved, so the
    # distiller's parameters and buffers are those of its state dict, before and after the
    # teacher exists: code that pairs them by position with a copy made before training (the
    # EMA hooks swap the averaged weights in at every validation) sees one list throughout.
    def named_parameters(self, prefix: str = '', recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[Tuple[str, nn.Parameter]]:
        """Named parameters of the student and the augmenter (not the teacher's)."""
        return without_teacher(super().named_parameters(prefix, recurse, remove_duplicate),
                               prefix)

    def named_buffers(self, prefix: str = '', recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[Tuple[str, torch.Tensor]]:
        """Named buffers of the student and the augmenter (not the teacher's)."""
        return without_teacher(super().named_buffers(prefix, recurse, remove_duplicate), prefix)

    @property
    def weakness_loss(self) -> Optional[nn.Module]:
        """The student-weakness loss of the search objective, if it has one."""
        return getattr(self.search_objective, 'weakness_loss', None)

    @property
    def teacher_classes(self) -> Optional[tuple]:
        """Class names the teacher checkpoint records (set by :meth:`load_teacher`)."""
        return self.frozen_teacher.classes

    def check_teacher_classes(self, dataset_classes: tuple) -> None:
        """See :meth:`TSTDistillerContract.check_teacher_classes` (the adapter's rule)."""
        if self.teacher_classes:
            self.adapter.check_teacher_classes(tuple(self.teacher_classes), dataset_classes)

    def buffers_with_teacher(self) -> Iterator[torch.Tensor]:
        """Every buffer, the teacher's included once it is built (its BN statistics change
        when ``teacher_norm_eval=False``)."""
        teacher = self.frozen_teacher.built(self)
        return chain(self.buffers(), teacher.buffers() if teacher is not None else ())

    def init_weights(self) -> None:
        """Initialise student and augmenter and load the teacher (the Runner calls this when
        training starts, and only then)."""
        self.student.init_weights()
        if self.augmenter is not None and hasattr(self.augmenter, 'init_weights'):
            self.augmenter.init_weights()
        self.load_teacher()

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher, built at its first use (training), on the student's device
        (:meth:`FrozenTeacher.get`)."""
        return self.frozen_teacher.get(self, like=self.student)

    def load_teacher(self) -> None:
        """Load ``teacher_ckpt`` into the teacher, once; every rank must call it.

        Deferred from building to training (``init_weights``, else the first
        :meth:`train_step`), so that testing the student neither reads nor downloads it.

        Raises:
            TeacherCheckpointError: If ``teacher_ckpt`` is ``None`` without
                ``allow_random_teacher``, or cannot be loaded.
        """
        self.frozen_teacher.load(lambda: self.teacher)

    def train(self, mode: bool = True) -> 'TSTDistiller':
        """Set train mode; the teacher stays in eval mode when ``teacher_norm_eval``."""
        super().train(mode)
        self.frozen_teacher.keep_mode(self)
        return self

    def restore_teacher_norm_layers(self) -> List[str]:
        """Undo a SyncBN conversion of the teacher (mmengine's Runner converts the whole model
        it wraps; ``tst_mm.TSTDistributedWrapper`` calls this, and the student keeps its SyncBN
        layers): see :meth:`FrozenTeacher.restore_norm_layers`."""
        return self.frozen_teacher.restore_norm_layers(self)

    def set_phase(self, phase: str) -> None:
        """Choose what the stock :meth:`train_step` runs: ``'distill'`` (the default) or
        ``'search'``. For tools that step the model through ``train_step``; the TST loops call
        :meth:`search_step` and :meth:`distill_step` instead."""
        check_choice('phase', phase, PHASES)
        self._tool_phase = phase

    # ------------------------------------------------------------------ training
    def search_step(self, data: Union[dict, tuple, list],
                    optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One search step: only the augmenter is trained (student and teacher frozen).

        ``optim_wrapper`` is built by ``tst_mm.TSTOptimWrapperConstructor``; see
        :meth:`TSTDistillerContract.search_step`.
        """
        data = self._step_batch(data, optim_wrapper)
        return self._search_step(data['inputs'], data['data_samples'], optim_wrapper)

    def distill_step(self, data: Union[dict, tuple, list],
                     optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One distillation step: only the student is trained, on ``[x'; x]``."""
        data = self._step_batch(data, optim_wrapper)
        return self._distill_step(data['inputs'], data['data_samples'], optim_wrapper)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """The stock entry for tools: a distillation step, or a search step after
        ``set_phase('search')``."""
        step = self.search_step if self._tool_phase == 'search' else self.distill_step
        return step(data, optim_wrapper)

    def _step_batch(self, data: Union[dict, tuple, list],
                    optim_wrapper: OptimWrapperDict) -> dict:
        """Check the optimizer wrappers, load the teacher if training has not yet, and
        preprocess the batch."""
        if not isinstance(optim_wrapper, OptimWrapperDict) or STUDENT not in optim_wrapper:
            raise TypeError("TSTDistiller needs optim_wrapper=dict(constructor="
                            "'tst_mm.TSTOptimWrapperConstructor', student=..., augmenter=...)")
        self.load_teacher()
        return self.data_preprocessor(data, True)

    def _augmented_batch(self, inputs: torch.Tensor, data_samples: List):
        """``([x'; x], samples, len(x'))`` with the augmenter fixed; ``x'`` covers
        ``augment_ratio`` of the batch (one draw per image, or the one ``x_prime_selection``
        keeps)."""
        if self.augmenter is None or self.augment_ratio == 0:
            return inputs, data_samples, 0
        num = max(1, round(self.augment_ratio * inputs.size(0)))
        with torch.no_grad():
            if self.x_prime_selection is None:
                aug_inputs, aug_samples = self.augmenter(
                    inputs[:num], copy.deepcopy(data_samples[:num]))
            else:  # several draws per image, the best kept
                aug_inputs, aug_samples = self.x_prime_selection(
                    self.augmenter, inputs[:num], data_samples[:num], self.student, self.teacher)
        # mixed targets (gt_score) on x' need targets of the same form on x
        data_samples = match_soft_targets(aug_samples, data_samples)
        return torch.cat([aug_inputs, inputs]), list(aug_samples) + list(data_samples), num

    def _distill_step(self, inputs: torch.Tensor, data_samples: List,
                      optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        part = self.parts[STUDENT]
        wrapper = part.wrapper(optim_wrapper)
        # all ranks apply the update or all skip it (non-finite loss or gradients anywhere)
        with part.update(optim_wrapper, self.student,
                         buffers=self.buffers_with_teacher()) as update:
            inputs, data_samples, num_augmented = self._augmented_batch(inputs, data_samples)
            with wrapper.optim_context(self):
                # only an adapter that weighs x' (checked at build) is asked to
                weight = self._x_prime_weight()
                weighing = {} if weight is None else dict(x_prime_weight=weight.detach())
                losses = self.adapter.distill_losses(
                    self.teacher, inputs, data_samples, self.distill_losses,
                    num_augmented=num_augmented, teacher_correct_only=self.teacher_correct_only,
                    **weighing)
                if weight is not None:
                    losses['distill.x_prime_weight'] = weight.detach()
            loss, log_vars = self.parse_losses(losses)
            update.apply(loss, self.student.parameters())
        log_vars['student.skipped_steps'] = part.skips.total
        return log_vars

    def _search_step(self, inputs: torch.Tensor, data_samples: List,
                     optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        if self.augmenter is None:
            raise RuntimeError('search phase requested but the distiller has no augmenter')
        part = self.parts[AUGMENTER]
        wrapper = part.wrapper(optim_wrapper)
        student_was_training = self.student.training
        self.student.eval()
        frozen = [p for p in self.student.parameters() if p.requires_grad]
        for param in frozen:  # gradients go through the student to the input, not into it
            param.requires_grad_(False)
        try:
            # a skipped step (on every rank together) leaves policy and momentum as they were
            with part.update(optim_wrapper, self.augmenter,
                             buffers=self.buffers_with_teacher()) as update:
                with wrapper.optim_context(self):
                    aug_inputs, losses = self._search_losses(inputs, data_samples, frozen,
                                                             optim_wrapper)
                loss, log_vars = self.parse_losses(losses)
                update.apply(loss, self.augmenter.parameters(), also_finite=[aug_inputs])
            log_vars['augment.skipped'] = float(update.skipped)
            return log_vars
        finally:
            for param in frozen:
                param.requires_grad_(True)
            self.student.train(student_was_training)

    def _x_prime_weight(self) -> Optional[torch.Tensor]:
        """The augmenter's learned weight of ``x'`` (with gradient), if it learns one."""
        weight = getattr(self.augmenter, 'x_prime_weight', None)
        return weight() if weight is not None else None

    def _search_losses(self, inputs: torch.Tensor, data_samples: List,
                       trainable: List[nn.Parameter], optim_wrapper: OptimWrapperDict
                       ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``x'`` and the search objective's terms on it, from the evidence it reads.

        The adapter supplies the evidence of ``x'`` (:meth:`TaskAdapter.search_evidence`).
        An objective that needs a ``'virtual_step'`` (:class:`tst_mm.StudentLookahead`) gets
        one over the first half of the batch, ``[x'; x]``; the second half, which that step
        does not see, is its held-out batch.
        """
        holds_out = VIRTUAL_STEP in self.search_objective.needs
        clean, clean_samples = inputs, data_samples
        if holds_out:
            half = inputs.size(0) // 2
            if half < 1:
                raise ConfigError(f'{type(self.search_objective).__name__} splits each search '
                                  'batch into a training and a held-out half: use batches of '
                                  'at least 2 images')
            clean, clean_samples = inputs[:half], data_samples[:half]
        aug_inputs, aug_samples = self.augmenter(clean, copy.deepcopy(clean_samples))
        sources = self.adapter.search_evidence(self.teacher, aug_inputs, aug_samples,
                                               clean_inputs=clean)
        if holds_out:
            sources[VIRTUAL_STEP] = lambda evidence: self._virtual_step(
                aug_inputs, aug_samples, clean, clean_samples, inputs[half:],
                data_samples[half:], trainable, optim_wrapper)
        return aug_inputs, self.search_objective(SearchEvidence(sources))

    def _virtual_step(self, aug_inputs: torch.Tensor, aug_samples: List, clean: torch.Tensor,
                      clean_samples: List, heldout: torch.Tensor, heldout_samples: List,
                      trainable: List[nn.Parameter], optim_wrapper: OptimWrapperDict
                      ) -> VirtualStep:
        """The student's distillation loss under other parameters, on ``[x'; x]`` and on the
        held-out batch, at the student's current learning rate."""
        names = {id(param): name for name, param in self.student.named_parameters()}
        student_lr = self.parts[STUDENT].wrapper(optim_wrapper).param_groups[0]['lr']
        return build_virtual_step(
            self.student, self.teacher, self.adapter, self.distill_losses,
            {names[id(param)]: param for param in trainable}, student_lr, aug_inputs,
            aug_samples, clean, match_soft_targets(aug_samples, clean_samples),
            heldout, heldout_samples, teacher_correct_only=self.teacher_correct_only,
            x_prime_weight=self._x_prime_weight())

    # ------------------------------------------------------------------ inference
    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``tensor`` / ``predict`` / ``loss`` modes go to the student, so stock evaluators
        and test tools work unchanged."""
        return self.student(inputs, data_samples, mode)
