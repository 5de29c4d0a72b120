"""Does TST beat KD? Classification quality on Fashion-MNIST, several seeds per method.

    python benchmarks/cls_quality.py --preset patient [--seeds 0 1 2] [--jobs 2]
    python benchmarks/cls_quality.py [--preset short] [--seeds 0 1 2 3 4] [--epochs 4]

Two regimes (``--preset``), each with one teacher, trained here unless its checkpoint exists:

``patient`` (the study that can answer whether TST pays where its premises hold):
    teacher ``configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py`` (1/4-width ResNet-18,
    15 epochs on the 60k images with crop + flip); student and schedule of
    ``configs/demo/tst_fashion-mnist_patient.py``: 1/8 width (4x fewer parameters), a fixed
    2,500-image subset, crop + flip for every method, 80 epochs of SGD 0.1 Nesterov (lr x0.1 at
    50/60/70), search phases of 10 passes before 12.5% and 37.5% of training with the authors'
    search optimisation (the config says why 2.5k x 80 rather than the 5k x 40 first tried).
    ``--epochs`` / ``--subset`` change the regime (milestones and search phases keep their
    share of training).
``short`` (the first study): the 2-epoch demo teacher, the demo's 1/16-width student,
    4 epochs on a fixed 10k subset, no base augmentation, one search pass per phase.

Methods, the same seeds for each (paired):

- ``alone``: the student's plain mmpretrain config (cross-entropy only, no teacher);
- ``kd``, ``dkd``, ``dist``: distillation losses, no augmenter;
- ``kd_2view`` (patient): KD on two crop/flip views of each image per step
  (``tst_mm.RepeatedViewsSampler``, batch x2): as many images per step as TST's ``[x'; x]``,
  the compute-matched control;
- ``kd_random``: KD on ``[x'; x]`` with the augmenter's *initial* policy over the same op pool,
  never searched (every probability and magnitude 0.5): separates a learned policy from "more
  augmented images";
- ``tst``: TST with the exact ops, search phases as above;
- ``tst_filter``, ``kd_random_filter`` (patient): the same with ``teacher_correct_only`` (KD
  leaves out the augmented samples the teacher gets wrong);
- ``tst_positive`` (patient): TST with ``signs='positive'`` (the authors' op directions);
- ``tst_m03``, ``kd_random_m03`` (patient): TST and the untrained policy with every magnitude
  starting at 0.3, where the teacher is right on >= 75% of x'; ``tst_m07``, ``kd_random_m07``
  the same from 0.7 (harsher than the default 0.5: does the policy matter here at all?);
- ``tst_noinvert``, ``kd_random_noinvert`` (patient): TST and the untrained policy with the op
  pool less ``invert``, the op the teacher fails on (19% right on inverted images, 95% clean;
  ``benchmarks/teacher_on_augmented.py --per-op``);
- ``tst_<setting>`` (patient): TST with another search objective (``model.search_objective``),
  one per setting of :data:`SEARCH_OBJECTIVES` but the paper's, e.g. ``tst_gated``
  (``tst_mm.TeacherGatedObjective``) or ``tst_paper_t3`` (the paper's with teacher weight 3);
  ``benchmarks/search_proxy.py`` ranks the same settings in minutes;
- ``tst_learned`` (short): the colour ops as pretrained op-imitation networks
  (``tools/pretrain_ops.py``, grey, trained here once and cached);
- ``tst_online`` (short): no search phases; one search step after every ``--online-interval``
  distillation iterations (with the default 2, as many search steps as ``tst``).

Every run goes through ``tools/train.py`` with a config written to its work dir, one process per
run (``--jobs`` at a time, ``--threads`` each). Runs are cached per run dir and reused only when
their config is the one the study would run now; interrupted runs resume from their last
checkpoint (``study_runs.run_cached``), so a study can be run in several sittings. Between
machines, the patient study's teacher, its runs so far and the search proxy's travel in
``benchmarks/cache/cls_quality_patient.tar.gz`` (logs, results and the checkpoints needed to
resume; packed by ``benchmarks/pack_cache.py``; ``mkdir -p work_dirs/bench && tar xzf
benchmarks/cache/cls_quality_patient.tar.gz -C work_dirs/bench`` before running the study
again). Writes
``benchmarks/results/<name>.{json,md}`` after every run (``--name``, default the preset's), and
at the end the policy figures ``<name>_policy.png`` (one TST run over training) and
``<name>_final_policy.png`` (the final policy of each TST method over seeds). The patient report
adds ``<name>_x_prime.png`` (teacher and student top-1 on ``x'`` per epoch), the paired
differences per seed, the diagnostics of every run (teacher and student on ``x'``, the share
``teacher_correct_only`` leaves out, train-subset accuracy, search-loss pass means, augmenter lr,
how far the policy moved in each phase) and the pilot's go / no-go checks.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import platform
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from study_runs import (
    ROOT,
    RunInProgress,
    cached_result,
    load_config,
    paired_differences,
    paired_table,
    run_cached,
    run_tool,
    summarise,
    summary_table,
)

from tst_mm.augment import OP_NAMES
from tst_mm.engine import POLICY_HISTORY_FILE
from tst_mm.launch import student_config
from tst_mm.utils import last_logged_scalar, logged_records

PRESETS = {
    'short': dict(
        teacher_config='configs/demo/resnet18-tiny_fashion-mnist.py',
        tst_config='configs/demo/tst_fashion-mnist.py',
        teacher_ckpt='work_dirs/bench/teacher_demo_2e/epoch_2.pth', epochs=4, subset=10000,
        seeds=[0, 1, 2, 3, 4], work_dir='work_dirs/bench/cls_quality', name='cls_quality',
        methods=['alone', 'kd', 'dkd', 'dist', 'kd_random', 'tst', 'tst_learned',
                 'tst_online']),
    'patient': dict(
        teacher_config='configs/demo/resnet18-tiny_fashion-mnist_crop-flip_15e.py',
        tst_config='configs/demo/tst_fashion-mnist_patient.py',
        teacher_ckpt='work_dirs/bench/teacher_crop-flip_15e/epoch_15.pth', epochs=None,
        subset=None, seeds=[0, 1, 2], work_dir='work_dirs/bench/cls_quality_patient',
        name='cls_quality_patient',
        methods=['kd', 'kd_2view', 'kd_random', 'tst', 'tst_filter', 'alone', 'tst_positive',
                 'kd_random_filter']),
}
#: Search objectives (``model.search_objective``) of the ``tst_<setting>`` methods, and the
#: settings ``benchmarks/search_proxy.py`` ranks; ``paper`` is the default ``tst`` runs with.
SEARCH_OBJECTIVES = {
    'paper': dict(type='tst_mm.PaperSearchObjective'),
    'paper_t3': dict(type='tst_mm.PaperSearchObjective', teacher_weight=3.0),
    'gated': dict(type='tst_mm.TeacherGatedObjective'),
    'gated_l3': dict(type='tst_mm.TeacherGatedObjective', hinge_weight=3.0),
    'gated_d01': dict(type='tst_mm.TeacherGatedObjective', margin=0.1),
    'gated_prob': dict(type='tst_mm.TeacherGatedObjective', gate='prob'),
    'disagree': dict(type='tst_mm.DisagreementObjective'),
    'disagree_l3': dict(type='tst_mm.DisagreementObjective', consistency_weight=3.0),
    'disagree_e005': dict(type='tst_mm.DisagreementObjective', margin=0.05),
    'disagree_ce': dict(type='tst_mm.DisagreementObjective', consistency='ce'),
    'lookahead': dict(type='tst_mm.StudentLookahead', estimator='exact'),
    'lookahead_fd': dict(type='tst_mm.StudentLookahead', estimator='finite_difference'),
}
#: What a setting changes beside ``model.search_objective`` (dotted config keys). The
#: lookahead settings learn the weight of x' (their way back to KD), step the policy with Adam
#: (hypergradients of ~1e-3 move an SGD policy by nothing; an Adam step is ~lr whatever the
#: gradient's scale) and drop the plateau rule (their loss is a surrogate whose value means
#: nothing).
LOOKAHEAD_OPTIONS = {
    'model.augmenter.learn_x_prime_weight': True,
    'optim_wrapper.augmenter.optimizer': dict(type='Adam', lr=0.05),
    'train_cfg.search_optim': dict(factor=None),
}
SEARCH_OPTIONS = {'lookahead': LOOKAHEAD_OPTIONS, 'lookahead_fd': LOOKAHEAD_OPTIONS}
#: ``tst_<setting>``: TST with a search objective other than the paper's.
OBJECTIVE_METHODS = {f'tst_{name}': name for name in SEARCH_OBJECTIVES if name != 'paper'}
#: Objective methods the short preset runs too.
SHORT_OBJECTIVE_METHODS = ('tst_lookahead', 'tst_lookahead_fd')
#: Search steps of ``tst_lookahead_online``: one after every this many student iterations.
LOOKAHEAD_ONLINE_INTERVAL = 4
#: ``kd_random_bestof2``: the better of two draws per image, by teacher-student KL on the
#: candidates the teacher gets right (``tst_mm.BestOfK``).
BEST_OF_2 = dict(type='tst_mm.BestOfK', k=2, score=dict(type='tst_mm.TeacherStudentKL'))
#: ``kd_random_mix``: the default pool plus MixUp and CutMix (probability learned, here never
#: searched).
MIXING_OPS = [*OP_NAMES, 'mixup', 'cutmix']
#: ``kd_random_w0``: x' at weight 0 in every loss (``augmenter.init_x_prime_weight``, never
#: searched), so it acts only through the batch statistics it shares with x: the part of
#: plain KD that a weight of x' cannot give back.
X_PRIME_WEIGHT_0 = {'learn_x_prime_weight': True, 'init_x_prime_weight': 0.0}
METHODS = ('alone', 'kd', 'dkd', 'dist', 'kd_2view', 'kd_random', 'kd_random_filter',
           'kd_random_m03', 'kd_random_m07', 'kd_random_noinvert', 'tst', 'tst_filter',
           'tst_positive', 'tst_m03', 'tst_m07', 'tst_noinvert', 'tst_learned', 'tst_online',
           *OBJECTIVE_METHODS, 'tst_lookahead_online', 'kd_random_bestof2', 'kd_random_mix',
           'kd_random_w0')
#: The initial magnitude of the ``_m<NN>`` methods' learnable ops, instead of 0.5. From 0.3
#: the teacher scores >= 75% on x' (``benchmarks/teacher_on_augmented.py``), the premise the
#: patient study's pilot asks for and the default initial policy misses; 0.7 is as much
#: harsher than the default, to see whether the policy has any leverage in this regime.
INIT_MAGNITUDES = {'_m03': 0.3, '_m07': 0.7}
#: The ``_noinvert`` methods' op pool: every op but the one the teacher does not recognise.
NO_INVERT_OPS = [op for op in OP_NAMES if op != 'invert']
DESCRIPTIONS = {
    'alone': 'student alone (plain mmpretrain config)',
    'kd': 'KD (T=4)',
    'dkd': 'DKD (alpha 1, beta 8, T=4)',
    'dist': 'DIST (beta 1, gamma 1, T=1)',
    'kd_2view': 'KD on two crop/flip views per image (as many images per step as TST)',
    'kd_random': 'KD + untrained policy (same op pool, p = m = 0.5)',
    'kd_random_filter': 'KD + untrained policy, teacher-correct x\' only',
    'kd_random_m03': 'KD + untrained policy, magnitudes from 0.3',
    'kd_random_m07': 'KD + untrained policy, magnitudes from 0.7',
    'kd_random_noinvert': 'KD + untrained policy, no invert op',
    'kd_random_bestof2': 'KD + untrained policy, best of 2 draws per image (teacher-student KL)',
    'kd_random_mix': 'KD + untrained policy, pool with MixUp and CutMix',
    'kd_random_w0': "KD + untrained policy, x' at weight 0 (only in the batch statistics)",
    'tst': 'TST, exact ops',
    'tst_filter': 'TST, teacher-correct x\' only',
    'tst_positive': 'TST, positive op directions (the authors\')',
    'tst_m03': 'TST, magnitudes from 0.3',
    'tst_m07': 'TST, magnitudes from 0.7',
    'tst_noinvert': 'TST, no invert op',
    'tst_learned': 'TST, learned colour ops',
    'tst_online': 'TST, online search',
    'tst_lookahead_online': 'TST, search objective StudentLookahead (exact), learned x\' '
                            f'weight, online (a step every {LOOKAHEAD_ONLINE_INTERVAL})',
    **{method: 'TST, search objective ' + ', '.join(
        [SEARCH_OBJECTIVES[name]['type'].split('.')[-1]]
        + [f'{key}={value}' for key, value in SEARCH_OBJECTIVES[name].items() if key != 'type'])
       + (', learned x\' weight' if name in SEARCH_OPTIONS else '')
       for method, name in OBJECTIVE_METHODS.items()},
}
#: Paired differences the patient report tabulates: (method, baseline).
PAIRS = [('tst', 'kd'), ('tst', 'kd_random'), ('tst', 'kd_2view'), ('tst_filter', 'kd'),
         ('tst_filter', 'kd_2view'), ('tst_filter', 'tst'), ('tst_filter', 'kd_random_filter'),
         ('kd_random_filter', 'kd_random'), ('tst_positive', 'tst'),
         ('tst_m03', 'kd_random_m03'), ('tst_m03', 'kd_2view'), ('kd_random_m03', 'kd_random'),
         ('tst_m07', 'kd_random_m07'), ('kd_random_m07', 'kd_random'),
         ('tst_noinvert', 'kd_random_noinvert'), ('tst_noinvert', 'kd_2view'),
         ('tst_noinvert', 'kd'), ('tst_noinvert', 'tst'), ('kd_random_noinvert', 'kd_random'),
         ('kd_2view', 'kd'), ('kd', 'alone'), ('kd_random', 'kd'),
         ('kd_random_bestof2', 'kd_random'), ('kd_random_bestof2', 'kd'),
         ('kd_random_mix', 'kd_random'), ('kd_random_mix', 'kd'),
         ('kd_random_w0', 'kd'), ('kd_random_w0', 'kd_random'), ('tst_lookahead', 'kd_random_w0'),
         *[(method, base) for method in (*OBJECTIVE_METHODS, 'tst_lookahead_online')
           for base in ('kd_random', 'tst', 'kd', 'kd_2view')]]
TOP1 = 'accuracy/top1'
DIAGNOSTICS_HOOK = dict(type='tst_mm.TSTDiagnosticsHook', eval_train_subset=True)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line; unset options take the preset's values."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='short')
    parser.add_argument('--seeds', type=int, nargs='+')
    parser.add_argument('--methods', nargs='+', choices=METHODS)
    parser.add_argument('--epochs', type=int, help='student epochs')
    parser.add_argument('--subset', type=int, help='student training images')
    parser.add_argument('--val-subset', type=int, default=None,
                        help='test on this many test images (default: all 10k)')
    parser.add_argument('--online-interval', type=int, default=2,
                        help='tst_online: a search step every this many iterations')
    parser.add_argument('--jobs', type=int, default=2, help='runs at a time')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--data-root', default='data/fashion-mnist')
    parser.add_argument('--teacher-ckpt',
                        help='the teacher; trained with the preset\'s config if missing')
    parser.add_argument('--learned-ops-ckpt', default='work_dirs/bench/learned_ops_gray.pth',
                        help='grey op-imitation networks; trained if the file is missing')
    parser.add_argument('--learned-ops-iters', type=int, default=400)
    parser.add_argument('--work-dir')
    parser.add_argument('--cached-only', action='store_true',
                        help='train nothing: tabulate the finished runs, list the missing ones')
    parser.add_argument('--out', default='benchmarks/results',
                        help='folder of <name>.{json,md} and the policy figures')
    parser.add_argument('--name', help='file name stem of the outputs')
    parser.add_argument('--augment-ratio', type=float, default=None,
                        help="kd_random and TST: share of the batch augmented (config's 1.0)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    for key in ('seeds', 'methods', 'epochs', 'subset', 'teacher_ckpt', 'work_dir', 'name'):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    args.teacher_config, args.tst_config = preset['teacher_config'], preset['tst_config']
    unknown = [m for m in args.methods if m not in method_names(args.preset)]
    if unknown:
        parser.error(f'methods {unknown} are not part of the {args.preset} preset')
    return args


def method_names(preset: str) -> List[str]:
    """The methods a preset can run."""
    if preset == 'patient':
        return [m for m in METHODS if m not in ('dkd', 'dist', 'tst_learned', 'tst_online')]
    return [m for m in METHODS if (m not in OBJECTIVE_METHODS or m in SHORT_OBJECTIVE_METHODS)
            and not m.endswith(('_filter', '_2view', '_positive', *INIT_MAGNITUDES, '_noinvert'))]


def apply_search_setting(cfg: Config, setting: str) -> None:
    """Set the search objective of ``setting`` and the options it comes with."""
    cfg.model.search_objective = SEARCH_OBJECTIVES[setting]
    for key, value in SEARCH_OPTIONS.get(setting, {}).items():
        parent, _, leaf = key.rpartition('.')
        target = cfg
        for part in parent.split('.'):
            target = target[part]
        target[leaf] = value


def extra_augmentation(cfg: Config, method: str) -> None:
    """``kd_random_bestof2``, ``kd_random_mix``, ``kd_random_w0``: per-image selection,
    mixing ops, x' at weight 0."""
    if method.endswith('_bestof2'):
        cfg.model.x_prime_selection = BEST_OF_2
    if method.endswith('_mix'):
        cfg.model.augmenter.ops = MIXING_OPS
    if method.endswith('_w0'):
        cfg.model.augmenter.update(X_PRIME_WEIGHT_0)


def lookahead_online(cfg: Config) -> None:
    """``tst_lookahead_online``: the exact lookahead, one search step every
    :data:`LOOKAHEAD_ONLINE_INTERVAL` student iterations instead of search phases."""
    apply_search_setting(cfg, 'lookahead')
    cfg.train_cfg.search_epochs = []
    cfg.train_cfg.online = dict(interval=LOOKAHEAD_ONLINE_INTERVAL, steps=1)


def ensure_teacher(args) -> Tuple[str, float]:
    """Train the teacher unless cached; return its checkpoint and test top-1."""
    ckpt = osp.abspath(args.teacher_ckpt)
    teacher_dir = osp.dirname(ckpt)
    if not osp.isfile(ckpt):
        epochs = int(re.search(r'epoch_(\d+)\.pth$', ckpt).group(1))
        print(f'teacher: training {args.teacher_config}, {epochs} epochs on 60k images',
              flush=True)
        os.makedirs(teacher_dir, exist_ok=True)
        run_tool(['tools/train.py', args.teacher_config, '--work-dir', teacher_dir,
                  '--cfg-options', *data_options(args), f'train_cfg.max_epochs={epochs}',
                  f'param_scheduler.end={epochs}'],
                 osp.join(teacher_dir, 'train.log'), threads=os.cpu_count() or 1)
    top1 = last_logged_scalar(teacher_dir, TOP1)
    if top1 is None:  # only the checkpoint came (an older cache): its test run's top-1
        top1 = tested_top1(teacher_dir)
    if top1 is None:
        print(f'teacher: no {TOP1} logged in {teacher_dir}: testing {ckpt}', flush=True)
        run_tool(['tools/test.py', args.teacher_config, ckpt, '--work-dir', teacher_dir,
                  '--cfg-options', *data_options(args)],
                 osp.join(teacher_dir, 'test.log'), threads=os.cpu_count() or 1)
        top1 = tested_top1(teacher_dir)
    if top1 is None:
        raise RuntimeError(f'no {TOP1} in {teacher_dir} after testing the teacher: see '
                           f'{teacher_dir}/test.log')
    return ckpt, top1


def tested_top1(work_dir: str) -> Optional[float]:
    """The top-1 of the last ``tools/test.py`` run in ``work_dir`` (mmengine writes a test's
    metrics to ``<timestamp>/<timestamp>.json``), or ``None``."""
    for path in sorted(glob.glob(osp.join(work_dir, '*', '*.json')), reverse=True):
        if osp.basename(path) != osp.basename(osp.dirname(path)) + '.json':
            continue
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        if len(records) == 1 and TOP1 in records[0]:  # a test; training logs one per step
            return float(records[0][TOP1])
    return None


def ensure_learned_ops(args) -> str:
    """Train the grey op-imitation networks unless cached; return the checkpoint."""
    ckpt = osp.abspath(args.learned_ops_ckpt)
    if not osp.isfile(ckpt):
        print(f'learned ops: tools/pretrain_ops.py --channels 1 --iters '
              f'{args.learned_ops_iters}', flush=True)
        os.makedirs(osp.dirname(ckpt), exist_ok=True)
        run_tool(['tools/pretrain_ops.py', '--out', ckpt, '--channels', '1', '--iters',
                  str(args.learned_ops_iters)], ckpt + '.log', threads=os.cpu_count() or 1)
    return ckpt


def data_options(args) -> List[str]:
    """``--cfg-options`` pointing every split at the data root."""
    data_root = osp.abspath(args.data_root)
    return [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]


def base_config(args, seed: int, teacher_ckpt: str) -> Config:
    """The preset's TST config with this study's data, teacher and seed."""
    cfg = load_config(osp.join(ROOT, args.tst_config))
    cfg.model.teacher = osp.join(ROOT, cfg.model.teacher)
    cfg.model.teacher_ckpt = teacher_ckpt
    data_root = osp.abspath(args.data_root)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
        if split != 'train' and args.val_subset:
            cfg[f'{split}_dataloader'].dataset.indices = args.val_subset
    if args.subset:
        cfg.train_dataloader.dataset.indices = args.subset
    cfg.randomness = dict(seed=seed)
    cfg.pop('model_wrapper_cfg', None)  # one process per run: no DDP wrapper to configure
    return cfg


def rescale_schedule(cfg: Config, epochs: int) -> None:
    """Give the patient config ``epochs`` epochs; milestones and search phases keep their share."""
    length = cfg.train_cfg.max_epochs
    if epochs == length:
        return
    scale = epochs / length
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
    cfg.train_cfg.search_epochs = sorted({round(e * scale) for e in cfg.train_cfg.search_epochs})
    for scheduler in cfg.param_scheduler.student:
        scheduler.milestones = [round(m * scale) for m in scheduler.milestones]
    cfg.default_hooks.checkpoint.interval = max(1, round(cfg.default_hooks.checkpoint.interval *
                                                         scale))


def patient_config(method: str, seed: int, args, teacher_ckpt: str) -> Config:
    """The full config of one run of the patient study."""
    cfg = base_config(args, seed, teacher_ckpt)
    if args.epochs:
        rescale_schedule(cfg, args.epochs)
    if method == 'alone':
        cfg = student_config(cfg)
        cfg.custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
        cfg.custom_hooks = [DIAGNOSTICS_HOOK]
        return cfg
    if args.augment_ratio is not None:
        cfg.model.augment_ratio = args.augment_ratio
    if method.startswith('kd'):
        cfg.train_cfg.search_epochs = []
        cfg.custom_hooks = [DIAGNOSTICS_HOOK]
    if method in ('kd', 'kd_2view'):
        cfg.model.augment_ratio = 0.0
    if method == 'kd_2view':
        cfg.train_dataloader.batch_size *= 2
        cfg.train_dataloader.sampler = dict(type='tst_mm.RepeatedViewsSampler', num_views=2,
                                            shuffle=True)
    if method.endswith('_filter'):
        cfg.model.teacher_correct_only = True
    if method == 'tst_positive':
        cfg.model.augmenter.signs = 'positive'
    magnitude = next((m for suffix, m in INIT_MAGNITUDES.items() if method.endswith(suffix)),
                     None)
    if magnitude is not None:
        cfg.model.augmenter.init_magnitude_logit = round(
            math.log(magnitude / (1 - magnitude)), 6)
    if method.endswith('_noinvert'):
        cfg.model.augmenter.ops = NO_INVERT_OPS
    extra_augmentation(cfg, method)
    if method in OBJECTIVE_METHODS:
        apply_search_setting(cfg, OBJECTIVE_METHODS[method])
    if method == 'tst_lookahead_online':
        lookahead_online(cfg)
    return cfg


def short_config(method: str, seed: int, args, teacher_ckpt: str,
                 learned_ops_ckpt: Optional[str]) -> Config:
    """The full config of one run of the short-schedule study."""
    cfg = base_config(args, seed, teacher_ckpt)
    cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.epochs  # test once, at the end
    cfg.param_scheduler.student[0].end = args.epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=args.epochs,
                                        max_keep_ckpts=1)
    # search a quarter and three quarters into training, as the demo
    search_epochs = sorted({args.epochs // 4, min(args.epochs - 1, 3 * args.epochs // 4)})
    cfg.custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook')]
    if method == 'alone':
        return student_config(cfg)
    if method in ('kd', 'dkd', 'dist'):
        cfg.model.augment_ratio = 0.0
        cfg.train_cfg.search_epochs = []
        cfg.custom_hooks = []
        if method == 'dkd':
            cfg.model.distill_losses = dict(
                dkd=dict(type='tst_mm.DKDLoss', alpha=1.0, beta=8.0, tau=4.0))
        elif method == 'dist':
            cfg.model.distill_losses = dict(
                dist=dict(type='tst_mm.DISTLoss', beta=1.0, gamma=1.0, tau=1.0))
    elif args.augment_ratio is not None:
        cfg.model.augment_ratio = args.augment_ratio
    if method.startswith('kd_random'):
        cfg.train_cfg.search_epochs = []
        cfg.custom_hooks = []
        extra_augmentation(cfg, method)
    elif method == 'tst':
        cfg.train_cfg.search_epochs = search_epochs
    elif method == 'tst_learned':
        cfg.train_cfg.search_epochs = search_epochs
        cfg.model.augmenter.op_impl = 'learned'
        cfg.model.augmenter.learned_ops_ckpt = learned_ops_ckpt
    elif method == 'tst_online':
        cfg.train_cfg.search_epochs = []
        cfg.train_cfg.online = dict(interval=args.online_interval, steps=1)
    elif method in SHORT_OBJECTIVE_METHODS:
        cfg.train_cfg.search_epochs = search_epochs
        apply_search_setting(cfg, OBJECTIVE_METHODS[method])
    elif method == 'tst_lookahead_online':
        lookahead_online(cfg)
    return cfg


def method_config(method: str, seed: int, args, teacher_ckpt: str,
                  learned_ops_ckpt: Optional[str]) -> Config:
    """The full config of one run."""
    if args.preset == 'patient':
        return patient_config(method, seed, args, teacher_ckpt)
    return short_config(method, seed, args, teacher_ckpt, learned_ops_ckpt)


def run_dir_of(method: str, seed: int, args) -> str:
    """The work dir of one (method, seed)."""
    return osp.abspath(osp.join(args.work_dir, f'{method}_seed{seed}'))


def run_one(method: str, seed: int, args, teacher_ckpt: str,
            learned_ops_ckpt: Optional[str]) -> Dict:
    """Train and test one (method, seed), or return its cached result."""
    return run_cached(
        run_dir_of(method, seed, args),
        lambda: method_config(method, seed, args, teacher_ckpt, learned_ops_ckpt),
        method, seed, TOP1, 'top1', args.threads)


# ---------------------------------------------------------------------- diagnostics
def _values(run_dir: str, key: str) -> List[float]:
    return [float(record[key]) for record in logged_records(run_dir, key)]


def policy_movement(run_dir: str) -> List[Dict]:
    """How far the policy moved in each search phase (sum of |change| of p and m over ops)."""
    path = osp.join(run_dir, POLICY_HISTORY_FILE)
    if not osp.isfile(path):
        return []
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    phases: Dict[int, List[dict]] = {}
    for record in records[1:]:  # the first is the initial policy, before training
        phases.setdefault(record['epoch'], []).append(record['policy'])
    out, previous = [], records[0]['policy'] if records else None
    for epoch, policies in sorted(phases.items()):
        moved = sum(abs((policies[-1][op][key] or 0.0) - (previous[op][key] or 0.0))
                    for op in previous for key in ('probability', 'magnitude'))
        out.append({'epoch': epoch, 'moved': moved})
        previous = policies[-1]
    return out


def segment_means(values: List[float], phases: List[int]) -> List[Optional[float]]:
    """Means of per-epoch ``values`` between search phases (``None`` for an empty segment).

    ``phases`` are the completed epochs before which the phases run, so with ``[10, 30]`` the
    segments are epochs 1-10, 11-30 and 31 to the end.
    """
    edges = [0, *phases, len(values)]
    return [statistics.mean(values[a:b]) if b > a else None for a, b in zip(edges, edges[1:])]


def run_diagnostics(run_dir: str, phases: List[int]) -> Dict:
    """What a finished run logged that explains its result (see TSTDiagnosticsHook).

    Args:
        run_dir: The run's work dir.
        phases: The study's search epochs, which split the x' diagnostics into segments
            (the same for every method, so a control's segments line up with TST's).
    """
    out: Dict = {'train_top1': last_logged_scalar(run_dir, 'train_subset/' + TOP1)}
    for name in ('teacher_top1_aug', 'student_top1_aug', 'teacher_py_aug', 'student_py_aug'):
        values = _values(run_dir, f'epoch/diag.{name}')
        if values:
            out[name] = {'first_epoch': values[0], 'last_epoch': values[-1],
                         'segments': segment_means(values, phases)}
    dropped = _values(run_dir, 'epoch/distill.dropped_aug')
    if dropped:
        out['dropped_aug'] = {'first_epoch': dropped[0], 'last_epoch': dropped[-1]}
    passes = logged_records(run_dir, 'search_pass/loss')
    phases: Dict[int, List[dict]] = {}
    for record in passes:
        phases.setdefault(int(record['search_pass/position']), []).append(record)
    out['search_phases'] = [{
        'epoch': epoch, 'lr': [r['search_pass/lr'] for r in records],
        **{name: [r.get(f'search_pass/augment.{name}') for r in records]
           for name in ('loss_teacher', 'loss_weakness', 'heldout_before', 'heldout_after')},
    } for epoch, records in sorted(phases.items())]
    out['policy_moved'] = policy_movement(run_dir)
    weights = _values(run_dir, 'distill.x_prime_weight')
    if weights:
        out['x_prime_weight'] = {'first_epoch': weights[0], 'last_epoch': weights[-1]}
    return out


def _mean(values: List[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def _fmt(value: Optional[float], scale: float = 100.0, digits: int = 1) -> str:
    return '-' if value is None else f'{value * scale:.{digits}f}'


def _first_last(runs: List[Dict], name: str, scale: float = 100.0, digits: int = 1) -> str:
    """``first / last`` epoch means of a diagnostic over runs."""
    first = _mean([r[name]['first_epoch'] for r in runs if name in r])
    last = _mean([r[name]['last_epoch'] for r in runs if name in r])
    if first is None:
        return '-'
    return f'{_fmt(first, scale, digits)} / {_fmt(last, scale, digits)}'


def _segments(runs: List[Dict], name: str) -> str:
    """``a / b / c``: a diagnostic's means per segment of the schedule, means over runs."""
    rows = [r[name]['segments'] for r in runs if name in r]
    if not rows:
        return '-'
    return ' / '.join(_fmt(_mean([row[i] for row in rows])) for i in range(len(rows[0])))


def _phase_losses(runs: List[Dict], idx: int) -> str:
    """Search-loss terms of phase ``idx``, first -> last pass, means over runs (for the
    lookahead: what the virtual step lowered the held-out loss by)."""
    rows = [r['search_phases'][idx] for r in runs if len(r['search_phases']) > idx]
    if not rows:
        return '-'

    def first_last(name):
        return [_mean([row.get(name, [None])[i] for row in rows]) for i in (0, -1)]

    teacher, weakness = first_last('loss_teacher'), first_last('loss_weakness')
    if teacher[0] is None:
        before, after = first_last('heldout_before'), first_last('heldout_after')
        if before[0] is None:
            return '-'
        return 'held-out gain ' + ' -> '.join(f'{b - a:.4f}' for b, a in zip(before, after))
    return f'{teacher[0]:.3f} -> {teacher[1]:.3f} / {weakness[0]:.3f} -> {weakness[1]:.3f}'


def _policy_moved(runs: List[Dict]) -> str:
    moved = [[m['moved'] for m in r['policy_moved']] for r in runs if r['policy_moved']]
    if not moved:
        return '-'
    phases = max(map(len, moved))
    return ' / '.join(f'{_mean([m[i] for m in moved if len(m) > i]):.2f}' for i in range(phases))


def diagnostics_table(results: List[Dict], diagnostics: Dict[str, Dict]) -> List[str]:
    """Markdown lines: per method, the diagnostics' means over seeds."""
    lines = ['| method | train-subset top-1 | teacher top-1 on x\' (epochs before the first '
             'search phase / between the phases / after the last) | '
             'student top-1 on x\' | teacher p_y on x\' (first / last epoch) | '
             'student p_y on x\' | '
             'x\' left out by the filter | search loss teacher / weakness, phase 1 (first -> '
             'last pass) | phase 2 | augmenter lr after the last phase | policy moved '
             '(per phase) | learned x\' weight (first / last logged) |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    by_method: Dict[str, List[Dict]] = {}
    for result in results:
        key = f'{result["method"]}_seed{result["seed"]}'
        if key in diagnostics:
            by_method.setdefault(result['method'], []).append(diagnostics[key])
    for method in METHODS:
        runs = by_method.get(method)
        if not runs:
            continue
        lrs = [r['search_phases'][-1]['lr'][-1] for r in runs if r['search_phases']]
        lines.append(
            f'| {DESCRIPTIONS[method]} | {_fmt(_mean([r["train_top1"] for r in runs]), 1.0, 2)}'
            f' | {_segments(runs, "teacher_top1_aug")} | '
            f'{_segments(runs, "student_top1_aug")} | '
            f'{_first_last(runs, "teacher_py_aug", 1.0, 3)} | '
            f'{_first_last(runs, "student_py_aug", 1.0, 3)} | '
            f'{_first_last(runs, "dropped_aug")} | {_phase_losses(runs, 0)} | '
            f'{_phase_losses(runs, 1)} | {"-" if not lrs else f"{_mean(lrs):.5f}"} | '
            f'{_policy_moved(runs)} | {_first_last(runs, "x_prime_weight", 1.0, 3)} |')
    return lines


def pilot_checks(summary: Dict[str, Dict], diagnostics: Dict[str, Dict]) -> List[str]:
    """The regime's go / no-go checks (on the first seed that has the runs they need)."""
    lines = []
    kd, alone = summary.get('kd'), summary.get('alone')
    if kd:
        seed = kd['seeds'][0]
        train = (diagnostics.get(f'kd_seed{seed}') or {}).get('train_top1')
        if train is not None:
            gap = train - kd['top1'][0]
            lines.append(f'- KD train-subset top-1 {train:.2f} vs test {kd["top1"][0]:.2f} '
                         f'(seed {seed}): {gap:+.2f} points; needs >= +5: '
                         f'{"pass" if gap >= 5 else "FAIL"}.')
    if kd and alone:
        shared = sorted(set(kd['seeds']) & set(alone['seeds']))
        if shared:
            diff = statistics.mean(dict(zip(kd['seeds'], kd['top1']))[s] -
                                   dict(zip(alone['seeds'], alone['top1']))[s] for s in shared)
            lines.append(f'- KD - alone: {diff:+.2f} points over seeds {shared}; needs >= +1: '
                         f'{"pass" if diff >= 1 else "FAIL"}.')
    random_runs = [d for key, d in sorted(diagnostics.items()) if key.startswith('kd_random_s')]
    first = [d['teacher_top1_aug']['first_epoch'] for d in random_runs
             if 'teacher_top1_aug' in d]
    if first:
        value = 100 * statistics.mean(first)
        lines.append(f'- Teacher top-1 on x\' under the initial policy (kd_random, first epoch): '
                     f'{value:.1f}%; needs >= 75%: {"pass" if value >= 75 else "FAIL"}.')
    return lines


# ---------------------------------------------------------------------- report
def write_tables(args, results: List[Dict], teacher_top1: float, command: str,
                 missing: List[str] = (), phases: List[int] = ()) -> None:
    """Write the raw results and the Markdown tables.

    Args:
        missing: Runs not done, named.
        phases: The TST runs' search epochs (patient: they split the x' diagnostics).
    """
    summary = summarise(results, teacher_top1, METHODS, 'top1')
    os.makedirs(args.out, exist_ok=True)
    if args.preset == 'patient':
        cfg = load_config(osp.join(ROOT, args.tst_config))
        epochs = args.epochs or cfg.train_cfg.max_epochs
        subset = args.subset or cfg.train_dataloader.dataset.indices
        regime = (f'Teacher: `{args.teacher_config}` (15 epochs on 60k, crop + flip), top-1 '
                  f'{teacher_top1:.2f}. Student: `{args.tst_config}` (1/8-width ResNet-18, '
                  f'crop + flip for every method), {epochs} epochs on a fixed {subset}-image '
                  'subset')
    else:
        regime = (f'Teacher: `{args.teacher_config}` (2 epochs on 60k), top-1 '
                  f'{teacher_top1:.2f}. Student: `{args.tst_config}`\'s 1/16-width ResNet-18, '
                  f'{args.epochs} epochs on a fixed {args.subset}-image subset')
    header = (f'Fashion-MNIST classification quality ({args.preset} regime), {os.cpu_count()} '
              f'CPU cores, torch {torch.__version__}, {platform.machine()}, {date.today()}.\n'
              f'Command: `{command}`.\n'
              f'{regime}, tested on {args.val_subset or 10000} test images. Mean and sample '
              'standard deviation over seeds; gap closed = (method - alone) / (teacher - '
              'alone); wall = mean time of the runs that ran in one launch (resumed runs '
              f'left out; {args.jobs} runs at a time, {args.threads} thread each, on a machine '
              'shared with other work).')
    lines = [header, '', *summary_table(summary, DESCRIPTIONS, 'top1', 'top-1')]
    pairs = paired_differences(summary, PAIRS, 'top1')
    if pairs:
        lines += ['', 'Paired differences (top-1 points, same seeds):', '',
                  *paired_table(pairs, DESCRIPTIONS)]
    diagnostics = {f'{r["method"]}_seed{r["seed"]}':
                   run_diagnostics(run_dir_of(r['method'], r['seed'], args), list(phases))
                   for r in results}
    if diagnostics:
        lines += ['', 'Diagnostics (means over seeds; x\' figures are epoch means of the '
                  'distillation steps, in %, p_y in [0, 1]; search losses are pass means):',
                  '', *diagnostics_table(results, diagnostics)]
    if args.preset == 'patient':
        checks = pilot_checks(summary, diagnostics)
        if checks:
            lines += ['', 'Regime checks (the pilot\'s go / no-go):', '', *checks]
    if missing:
        lines += ['', f'Not run (yet): {", ".join(missing)}.']
    with open(osp.join(args.out, f'{args.name}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(osp.join(args.out, f'{args.name}.json'), 'w') as f:
        json.dump(dict(command=command, date=str(date.today()), cores=os.cpu_count(),
                       torch=torch.__version__, teacher_top1=teacher_top1,
                       settings=dict(preset=args.preset, epochs=args.epochs,
                                     subset=args.subset, val_subset=args.val_subset,
                                     jobs=args.jobs, threads=args.threads,
                                     online_interval=args.online_interval,
                                     augment_ratio=args.augment_ratio),
                       summary=summary, paired=pairs, diagnostics=diagnostics, runs=results,
                       missing=list(missing)), f, indent=1)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


#: The figures' colour of a method: one per augmenter variant, TST and its control alike.
_VARIANTS = ('', '_filter', '_noinvert', '_m03', '_positive', '_learned', '_online', '_m07')


def _variant_colour(method: str) -> str:
    suffix = next((s for s in _VARIANTS[1:] if method.endswith(s)), '')
    return f'C{_VARIANTS.index(suffix)}'


def finished_policy_runs(results: List[Dict], args) -> Dict[str, List[str]]:
    """The run dirs whose policy the figures draw: those of the tabulated TST runs, by method.

    ``results`` holds only runs finished with the config the study asks for now (the tables'
    check), so neither a run still training elsewhere (a partial history) nor one of another
    config (a run dir left from an earlier regime) is drawn.
    """
    done = {(r['method'], r['seed']) for r in results}
    finished = {}
    for method in (m for m in args.methods if m.startswith('tst')):
        dirs = [run_dir_of(method, seed, args) for seed in args.seeds if (method, seed) in done]
        dirs = [d for d in dirs if osp.isfile(osp.join(d, POLICY_HISTORY_FILE))]
        if dirs:
            finished[method] = dirs
    return finished


def plot_final_policies(run_dirs: Dict[str, List[str]], out: str) -> None:
    """Bars of the final policy per op (mean and std over seeds), one bar per TST method.

    Args:
        run_dirs: Finished run dirs of each method, by method name.
        out: The PNG to write.
    """
    plt = _pyplot()
    finals = {}
    for method, dirs in run_dirs.items():
        finals[method] = []
        for run_dir in dirs:
            with open(osp.join(run_dir, POLICY_HISTORY_FILE)) as f:
                lines = [line for line in f if line.strip()]
            finals[method].append(json.loads(lines[-1])['policy'])
    ops = [op for op in OP_NAMES if any(op in p[0] for p in finals.values())]
    width = 0.8 / len(finals)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    for ax, key in zip(axes, ('probability', 'magnitude')):
        for i, (method, policies) in enumerate(finals.items()):
            xs, means, stds = [], [], []
            for j, op in enumerate(ops):
                values = [p[op][key] for p in policies if op in p and p[op][key] is not None]
                if values:
                    xs.append(j + (i - (len(finals) - 1) / 2) * width)
                    means.append(statistics.mean(values))
                    stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
            ax.bar(xs, means, width=width, yerr=stds, capsize=2, alpha=0.85,
                   color=f'C{i}',  # one colour a method (variants alone share none)
                   label=f'{DESCRIPTIONS[method]} ({len(policies)} seeds)')
        ax.axhline(0.5, color='grey', linestyle='--', linewidth=1)
        ax.set_ylim(0, 1)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3, axis='y')
    axes[0].legend(loc='upper left', fontsize=8)
    axes[1].set_xticks(range(len(ops)))
    axes[1].set_xticklabels(ops, rotation=45, ha='right')
    fig.suptitle('Final TST policy, mean and std over seeds (dashed: the initial value)')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_x_prime_accuracy(results: List[Dict], args, phases: List[int],
                          out: str) -> Dict[str, Dict]:
    """Teacher and student top-1 on x' per epoch, mean over seeds, for every augmenting method.

    TST methods are solid, their untrained-policy controls dashed in the same colour; dotted
    verticals mark the search phases (``phases``: the search epochs the report's segments
    use). Nothing is written if no run logged the diagnostics.

    Returns:
        The plotted curves (%): ``{method: {'teacher': [...], 'student': [...]}}``.
    """
    series: Dict[str, List[Tuple[List[float], List[float]]]] = {}
    for result in results:
        run_dir = run_dir_of(result['method'], result['seed'], args)
        teacher = _values(run_dir, 'epoch/diag.teacher_top1_aug')
        student = _values(run_dir, 'epoch/diag.student_top1_aug')
        if teacher and student:
            series.setdefault(result['method'], []).append((teacher, student))
    curves: Dict[str, Dict] = {}
    if not series:
        return curves
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for method in (m for m in METHODS if m in series):
        runs = series[method]
        epochs = min(len(teacher) for teacher, _ in runs)
        curves[method] = {}
        for ax, which, who in zip(axes, (0, 1), ('teacher', 'student')):
            mean = [100 * statistics.mean(run[which][e] for run in runs) for e in range(epochs)]
            curves[method][who] = mean
            ax.plot(range(1, epochs + 1), mean, color=_variant_colour(method), linewidth=1.2,
                    linestyle='-' if method.startswith('tst') else '--',
                    label=f'{DESCRIPTIONS[method]} ({len(runs)} seeds)')
    for ax, who in zip(axes, ('teacher', 'student')):
        for epoch in phases:
            ax.axvline(epoch + 0.5, color='grey', linestyle=':', linewidth=1)
        ax.set_title(f'{who} top-1 on x\' (epoch mean of the distillation steps)')
        ax.set_xlabel('epoch')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('top-1 on x\' (%)')
    axes[1].legend(loc='lower right', fontsize=7)
    fig.suptitle('Are the augmented samples teachable? (dotted: search phases)')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return curves


def main(argv=None) -> None:
    """Run the study."""
    args = parse_args(argv)
    command = 'python benchmarks/cls_quality.py ' + ' '.join(sys.argv[1:] if argv is None
                                                              else argv)
    started = time.time()
    if args.methods == ['alone'] and not osp.isfile(args.teacher_ckpt):
        # the student alone needs no teacher: run it while the teacher trains elsewhere
        teacher_ckpt, teacher_top1 = osp.abspath(args.teacher_ckpt), float('nan')
    else:
        teacher_ckpt, teacher_top1 = ensure_teacher(args)
    print(f'teacher: {teacher_ckpt}, top-1 {teacher_top1:.2f}', flush=True)
    learned_ops_ckpt = ensure_learned_ops(args) if (
        'tst_learned' in args.methods and not args.cached_only) else None
    jobs = [(method, seed) for seed in args.seeds for method in args.methods]
    missing = []
    if args.cached_only:
        missing = [f'{method} seed {seed}' for method, seed in jobs if cached_result(
            run_dir_of(method, seed, args),
            lambda m=method, s=seed: method_config(m, s, args, teacher_ckpt, learned_ops_ckpt)
        ) is None]
        jobs = [(m, s) for m, s in jobs if f'{m} seed {s}' not in missing]
    results: List[Dict] = []
    lock = threading.Lock()
    # built here, before the threads: a config build is not thread-safe (study_runs)
    phases = (method_config('tst', args.seeds[0], args, teacher_ckpt, None).train_cfg
              .search_epochs if args.preset == 'patient' else [])

    def one(job):
        method, seed = job
        try:
            result = run_one(method, seed, args, teacher_ckpt, learned_ops_ckpt)
        except RunInProgress as err:
            print(f'skipped: {err}', flush=True)
            return
        with lock:
            results.append(result)
            write_tables(args, results, teacher_top1, command, missing, phases)
            print(f'[{len(results)}/{len(jobs)}] {method} seed {seed}: top-1 {result["top1"]:.2f} '
                  f'({result["wall_s"]:.0f} s; {(time.time() - started) / 60:.1f} min so far)',
                  flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()

    os.makedirs(args.out, exist_ok=True)
    finished = finished_policy_runs(results, args)
    if finished.get('tst'):
        run_tool(['tools/plot_policy.py', finished['tst'][0], '--out',
                  osp.join(args.out, f'{args.name}_policy.png')],
                 osp.join(args.work_dir, 'plot.log'), threads=1)
    if finished:
        plot_final_policies(finished, osp.join(args.out, f'{args.name}_final_policy.png'))
    if args.preset == 'patient':
        plot_x_prime_accuracy(results, args, phases,
                              osp.join(args.out, f'{args.name}_x_prime.png'))
    with open(osp.join(args.out, f'{args.name}.md')) as f:
        print('\n' + f.read())
    print(f'total {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    main()
