"""One rank of the launcher-independence test (tests/distill/test_grad_sync.py).

    python tests/grad_sync_worker.py RANK WORLD_SIZE PORT DATA_ROOT OUT_DIR

Builds the Fashion-MNIST TST distiller (random teacher) with a student that computes but never
uses its last stage (``out_indices=(2, )``), on a gloo process group when WORLD_SIZE > 1 (behind
``TSTDistributedWrapper``), gives every rank the same batch, runs two search and two
distillation steps with weight decay and momentum, and saves the state dict and both optimizer
states to ``OUT_DIR/world<w>_rank<r>.pth``.
"""
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def main() -> None:
    rank, world, port, data_root, out_dir = sys.argv[1:6]
    rank, world = int(rank), int(world)
    if world > 1:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
        dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(0)  # the same on every rank and in one process

    import tst_mm  # noqa: F401
    from tst_mm.engine import TSTDistributedWrapper
    from tst_mm.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')).model
    cfg.teacher_ckpt = None
    cfg.allow_random_teacher = True
    cfg.student.backbone.out_indices = (2, )  # the last stage runs, its output is not used
    cfg.student.head.in_channels = 16
    distiller = MODELS.build(cfg)
    distiller.train()
    # a random teacher is built at its first use, which differs between one process (the
    # first forward) and several (load_teacher, to broadcast it): build it here for both
    distiller.teacher.eval()
    model = TSTDistributedWrapper(distiller) if world > 1 else distiller
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='tst_mm.TSTOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            student=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                                        weight_decay=0.01)),
            augmenter=dict(optimizer=dict(type='SGD', lr=1.0, momentum=0.9,
                                          weight_decay=0.01)))))(distiller)
    dataset = DATASETS.build(dict(type='FashionMNIST', data_root=data_root, split='train',
                                  download=False, pipeline=[dict(type='PackInputs')],
                                  indices=8))
    for phase in ('search', 'search', 'distill', 'distill'):
        distiller.set_phase(phase)
        model.train_step(pseudo_collate([dataset[i] for i in range(8)]), optim)
    torch.save(dict(state={key: value.clone() for key, value in distiller.state_dict().items()},
                    optim={name: wrapper.optimizer.state_dict()
                           for name, wrapper in optim.items()}),
               osp.join(out_dir, f'world{world}_rank{rank}.pth'))
    if world > 1:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
