"""Every refusal docs/user_guide.md lists ("What is refused"), run through ``tools/train.py``
as the guide writes it: a non-zero exit, stderr is one line, ``error: ...``, containing what
the guide says it contains (no traceback, no warnings, no config dump), and no checkpoint is
written (the preflight refuses before the first epoch).

The rows run in ``tests/refusal_driver.py``, which imports the tool once and forks a process
per row (a second or two each instead of the imports of torch and three toolboxes); one row
also runs as a process of its own, to show that the driver reports what ``python
tools/train.py`` prints.
"""
import glob
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from typing import List, Tuple

import pytest
import torch
from tst_testing import ROOT

GUIDE = osp.join(ROOT, 'docs', 'user_guide.md')
SECTION = '## What is refused'
ROW = re.compile(r'^\| (.+?) \| `([^`]+)` \| `(.+)` \|$')
#: What issue 27 found refused with a traceback, a config dump or no "did you mean": the guide
#: must keep a row for each.
REQUIRED = (
    "did you mean 'augment_ratio'?", "did you mean 'search_epochs'?", "did you mean 'num_ops'?",
    'model.teacher: config file not found', 'SparseRoIHead', 'GaussianFocalLoss',
    'teacher has 10 classes but student has 5',  # the adapter's teacher check
    "geometric_mode='blend' cannot move boxes",  # its augmenter check
    "distill_losses entry 'cls': DINOHead",  # its KD loss check
    'teacher_correct_only leaves out RoIs',  # its teacher-correct-only check
)
#: Scenes demo configs and the dataset folder they read.
SCENES = {'tst_faster-rcnn_scenes.py': 'coco', 'tst_retinanet_scenes.py': 'coco',
          'tst_mask-rcnn_scenes.py': 'coco', 'tst_pspnet_scenes.py': 'cityscapes',
          'tst_deeplabv3_scenes.py': 'cityscapes'}


def guide_refusals() -> List[Tuple[str, str, str]]:
    """``(what, arguments of tools/train.py, what the line contains)`` of each row."""
    with open(GUIDE, encoding='utf-8') as f:
        text = f.read()
    assert SECTION in text, f'docs/user_guide.md has no "{SECTION}" section'
    section = text.split(SECTION, 1)[1].split('\n## ', 1)[0]
    return [match.groups() for match in map(ROW.match, section.splitlines()) if match]


def _data_options(config: str, fashion_mnist: str, scenes: str) -> List[str]:
    """``--cfg-options`` pointing the config's datasets at the test data."""
    name = osp.basename(config)
    if 'fashion-mnist' in name:
        return [f'{split}_dataloader.dataset.data_root={fashion_mnist}'
                for split in ('train', 'val', 'test')]
    if name not in SCENES:
        return []
    root = osp.join(scenes, SCENES[name]) + '/'
    options = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    if SCENES[name] == 'coco':
        options += [f'{split}_evaluator.ann_file={root}annotations/instances_val.json'
                    for split in ('val', 'test')]
    return options


def _arguments(row_args: str, work_dir: str, fashion_mnist: str, scenes: str) -> List[str]:
    """The row's arguments with the test data and a work dir; the row's own options come
    last, so they win."""
    args = shlex.split(row_args)
    data = _data_options(args[0], fashion_mnist, scenes)
    if '--cfg-options' in args:
        at = args.index('--cfg-options') + 1
        args[at:at] = data
    elif data:
        args += ['--cfg-options', *data]
    return args + ['--work-dir', work_dir]


def test_the_guide_lists_the_refusals_this_test_needs():
    rows = guide_refusals()
    assert len(rows) >= 30, rows
    contained = '\n'.join(fragment for _, _, fragment in rows)
    assert [text for text in REQUIRED if text not in contained] == []


@pytest.mark.slow
def test_every_refusal_of_the_user_guide_is_one_line_on_stderr(tmp_path, fashion_mnist_root,
                                                              scenes_root):
    rows = guide_refusals()
    if torch.cuda.is_available():  # --amp is then no refusal: it would train
        rows = [row for row in rows if '--amp' not in row[1]]
    cases = [_arguments(args, str(tmp_path / f'run{i}'), fashion_mnist_root, scenes_root)
             for i, (_, args, _) in enumerate(rows)]
    with open(tmp_path / 'cases.json', 'w') as f:
        json.dump(cases, f)
    out = tmp_path / 'out'
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    driver = subprocess.run(
        [sys.executable, osp.join('tests', 'refusal_driver.py'), str(tmp_path / 'cases.json'),
         str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert driver.returncode == 0, driver.stderr[-5000:]
    assert driver.stderr == '', f'importing tools/train.py printed:\n{driver.stderr[-3000:]}'
    codes = json.loads((out / 'exit_codes.json').read_text())
    problems = []
    for i, ((what, args, fragment), code) in enumerate(zip(rows, codes)):
        stderr = (out / f'{i}.err').read_text()
        lines = stderr.splitlines()
        if code == 0 or len(lines) != 1 or not lines[0].startswith('error: ') \
                or fragment not in lines[0]:
            problems.append(f'{what} ({args}): exit code {code}, stderr:\n{stderr[-2000:]}')
        if glob.glob(str(tmp_path / f'run{i}' / '*.pth')):
            problems.append(f'{what} ({args}): refused, but a checkpoint was written')
    assert problems == [], '\n\n'.join(problems)

    # one row as `python tools/train.py ...` itself: the same line on stderr, the same exit
    index = next(i for i, row in enumerate(rows) if 'augment_ratios' in row[1])
    alone = subprocess.run([sys.executable, osp.join('tools', 'train.py'), *cases[index]],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert (alone.returncode, alone.stderr) == (codes[index],
                                                (out / f'{index}.err').read_text())
