"""Score the frozen teacher once on the validation set, for reference in the logs."""
import torch
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.unwrap import unwrap_model

__all__ = ['TSTTeacherEvalHook']

#: Message-hub key holding the teacher's metrics (saved in checkpoints, so resumes skip it).
TEACHER_METRICS_KEY = 'tst_teacher_metrics'


@HOOKS.register_module()
class TSTTeacherEvalHook(Hook):
    """Before training, evaluate the teacher with the config's val dataloader and evaluator.

    The metrics are logged as ``teacher.<metric>`` (e.g. ``teacher.accuracy/top1``) and added
    to the visualizer's scalars at step 0; a run resumed from a checkpoint does not repeat it.
    A teacher that scores poorly here is the first thing to check when TST brings no gain.
    """

    priority = 'LOW'

    def before_train(self, runner) -> None:
        loop = runner.val_loop
        if loop is None or runner.message_hub.get_info(TEACHER_METRICS_KEY) is not None:
            return
        model = unwrap_model(runner.model)
        teacher = getattr(model, 'teacher', None)
        if teacher is None:
            return
        with torch.no_grad():
            for data_batch in loop.dataloader:
                data = model.data_preprocessor(data_batch, False)
                outputs = teacher(data['inputs'], data['data_samples'], mode='predict')
                loop.evaluator.process(data_samples=outputs, data_batch=data_batch)
        metrics = loop.evaluator.evaluate(len(loop.dataloader.dataset))
        metrics = {f'teacher.{key}': value for key, value in metrics.items()}
        runner.message_hub.update_info(TEACHER_METRICS_KEY, metrics)
        runner.visualizer.add_scalars(metrics, step=0)
        runner.logger.info('TST teacher on the validation set: ' + ', '.join(
            f'{key}: {value:.4f}' if isinstance(value, float) else f'{key}: {value}'
            for key, value in metrics.items()))
