"""One rank of the two-process NaN test (tests/distill/test_step_guard.py).

    python tests/nan_guard_worker.py RANK WORLD_SIZE PORT DATA_ROOT OUT_DIR

Builds the Fashion-MNIST TST distiller (random teacher) behind ``TSTDistributedWrapper`` on a
gloo process group, runs a good search and a good distillation step (so that both optimizers
hold momentum), then steps where only rank 1 sees a non-finite batch, or a non-finite update
(finite loss and gradients, an infinite learning rate: the optimizer has already changed its
momentum when the guard finds it), or an error, and saves what each rank holds after every step
to ``OUT_DIR/rank<r>_<step>.pth``.
"""
import copy
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _snapshot(model, optim) -> dict:
    return {
        'state': {key: value.clone() for key, value in model.state_dict().items()},
        'optim': copy.deepcopy({name: wrapper.optimizer.state_dict()
                                for name, wrapper in optim.items()}),
    }


def main() -> None:
    rank, world, port, data_root, out_dir = sys.argv[1:6]
    rank, world = int(rank), int(world)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(rank)  # different local randomness: the wrapper must sync what counts

    import tst_mm  # noqa: F401
    from tst_mm.engine import TSTDistributedWrapper
    from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')).model
    cfg.teacher_ckpt = None
    cfg.allow_random_teacher = True
    distiller = MODELS.build(cfg)
    distiller.train()
    model = TSTDistributedWrapper(distiller)
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            augmenter=dict(optimizer=dict(type='SGD', lr=1.0, momentum=0.9)))))(distiller)
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=data_root, split='train',
                                  download=False, pipeline=[dict(type='PackInputs')],
                                  indices=32))

    def batch(kind: str = 'finite'):
        data = pseudo_collate([dataset[i] for i in range(rank * 8, rank * 8 + 8)])
        if rank == 1 and kind == 'nan':
            data['inputs'][0] = data['inputs'][0].float() * float('nan')
        if rank == 1 and kind == 'error':  # a label the 10-class head cannot take
            data['data_samples'][0].set_gt_label(42)
        return data

    def step(name: str, phase: str, kind: str = 'finite') -> None:
        distiller.set_phase(phase)
        outcome = 'ok'
        if rank == 1 and kind == 'inf_lr':  # the update, not the loss, is non-finite
            optim['augmenter'].optimizer.param_groups[0]['lr'] = float('inf')
        try:
            model.train_step(batch(kind), optim)
        except Exception as err:  # recorded: the test checks who raised what
            outcome = f'{type(err).__name__}: {err}'
        # the learning rate as before (a restored optimizer state holds it as at the start
        # of the step): what the test compares is the momentum
        optim['augmenter'].optimizer.param_groups[0]['lr'] = 1.0
        torch.save(dict(_snapshot(distiller, optim), outcome=outcome),
                   osp.join(out_dir, f'rank{rank}_{name}.pth'))

    step('warm_search', 'search')  # good steps first: both optimizers hold momentum
    step('warm_distill', 'distill')
    torch.save(_snapshot(distiller, optim), osp.join(out_dir, f'rank{rank}_start.pth'))
    step('search_nan', 'search', 'nan')
    step('search', 'search')
    step('search_inf_lr', 'search', 'inf_lr')
    step('distill_nan', 'distill', 'nan')
    step('distill', 'distill')
    step('search_error', 'search', 'error')
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
