"""What a TST loop does before its first epoch or iteration."""
from torch.utils.data import DataLoader

from ..distill.contract import TSTDistillerContract
from ..errors import ConfigError
from ..utils.unwrap import unwrap_model
from .checkpoint_guard import guard_checkpoint_hooks
from .preflight import run_preflight
from .weight_averaging import keep_augmenter_out_of_averages

__all__ = ['check_teacher_classes', 'prepare_tst_training']


def check_teacher_classes(distiller: TSTDistillerContract, dataset) -> None:
    """Let the distiller compare its teacher checkpoint's class names with the dataset's.

    Class counts are checked when the models are built; names only become known with the
    teacher checkpoint (``meta.dataset_meta.classes``, or ``meta.CLASSES`` of mmcv-era
    checkpoints) and the training dataset. Nothing is compared when the dataset names none;
    what a difference means is the task's rule (its adapter's ``check_teacher_classes``).

    Raises:
        ConfigError: If the distiller refuses the pair.
    """
    metainfo = getattr(dataset, 'metainfo', None) or {}
    classes = metainfo.get('classes')
    if classes:
        distiller.check_teacher_classes(tuple(classes))


def prepare_tst_training(runner, dataloader: DataLoader, loop_name: str, preflight: bool,
                         searches: bool) -> TSTDistillerContract:
    """What a TST loop does before its first epoch or iteration.

    Keeps the augmenter out of weight averages (:func:`keep_augmenter_out_of_averages`),
    keeps ``CheckpointHook`` from saving while a part skips its steps
    (:func:`~.checkpoint_guard.guard_checkpoint_hooks`), checks the teacher's class names
    against the training data (the Runner has loaded the teacher: ``Runner.train`` calls the
    distiller's ``init_weights``, which calls ``load_teacher``, before the loop runs), then
    runs the preflight (:func:`~.preflight.run_preflight`) unless ``preflight`` is off.

    Args:
        runner: The runner.
        dataloader: The training dataloader.
        loop_name: The loop's class name, for the refusal of a model that is no distiller.
        preflight: Whether to run the preflight.
        searches: Whether the loop will search (else the preflight runs no search step).

    Returns:
        The distiller (unwrapped).

    Raises:
        ConfigError: If the runner's model is no TST distiller.
    """
    distiller: TSTDistillerContract = unwrap_model(runner.model)
    if not isinstance(distiller, TSTDistillerContract):
        raise ConfigError(f'{loop_name} trains a TST distiller (a '
                          'tst_mm.distill.contract.TSTDistillerContract such as '
                          f'tst_mm.TSTDistiller), not a {type(distiller).__name__}; set '
                          "model.type='tst_mm.TSTDistiller' or use mmengine's own loop")
    keep_augmenter_out_of_averages(runner)
    guard_checkpoint_hooks(runner)
    check_teacher_classes(distiller, dataloader.dataset)
    if preflight:
        run_preflight(runner, dataloader, search=searches)
    return distiller
