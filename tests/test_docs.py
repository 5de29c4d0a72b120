"""The docs check: what README.md and the pages under docs/ and configs/ name must exist.

- every repository path (``configs/...``, ``tools/...``, ``docs/...``, ...) and every relative
  Markdown link points at a file or folder of the repository;
- every command line runs a script of the repository that exists, with options that script
  (or the script it forwards to) defines, and every ``make`` target is in the Makefile;
- every Python block is a config whose first line names its file (``# my_tst_fcos.py``): the
  blocks of a page are written side by side into a folder, and each one loads with
  ``Config.fromfile`` and builds its model, optimizer wrapper and train loop arguments
  (teacher weights are not loaded; nothing is trained).

The checks return the problems they find, so that ``test_the_check_finds_broken_docs`` can
show each one failing on a broken page.
"""
import copy
import glob
import inspect
import itertools
import os.path as osp
import re
from typing import Dict, List, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT, scenes_batch

import tst_mm  # noqa: F401
from tst_mm.augment import LearnableAugmenter
from tst_mm.registry import LOOPS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS

DOCS = sorted({osp.relpath(path, ROOT) for path in [
    osp.join(ROOT, 'README.md'),
    *glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True),
    *glob.glob(osp.join(ROOT, 'configs', '**', '*.md'), recursive=True)]})
#: Folders of the repository whose paths the docs name.
REPO_DIRS = ('configs', 'tools', 'docs', 'benchmarks', 'tst_mm', 'tests')
#: Scripts that hand their extra options to another one.
FORWARDS = {'tools/dist_train.sh': 'tools/train.py', 'tools/slurm_train.sh': 'tools/train.py',
            'tools/dist_test.sh': 'tools/test.py', 'tools/slurm_test.sh': 'tools/test.py'}

PATH = re.compile(r'(?<![\w/.~-])((?:%s)/[\w./{},*<>-]*)' % '|'.join(REPO_DIRS))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```(\w*)\n(.*?)^```', re.MULTILINE | re.DOTALL)
INLINE = re.compile(r'`([^`]+)`')
CONFIG_NAME = re.compile(r'#\s*([\w.-]+\.py)\s*$')


def read(doc: str) -> str:
    """The text of a file of the repository."""
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        return f.read()


def expand_braces(path: str) -> List[str]:
    """``a/{b,c}_d.py`` -> ``['a/b_d.py', 'a/c_d.py']`` (shell brace expansion, one level)."""
    parts = re.split(r'\{([^{}]*)\}', path)
    choices = [[part] if i % 2 == 0 else part.split(',') for i, part in enumerate(parts)]
    return [''.join(combo) for combo in itertools.product(*choices)]


def exists(path: str) -> bool:
    """A repo path (``<name>`` placeholders and ``*`` as globs) names something that exists."""
    pattern = re.sub(r'<[^>]*>', '*', path)
    return bool(glob.glob(osp.join(ROOT, pattern)))


def missing_paths(text: str, doc: str) -> List[str]:
    """Repository paths and relative links of ``text`` (the page ``doc``) that do not exist."""
    problems = []
    for match in PATH.finditer(text):
        for path in expand_braces(match.group(1).rstrip('.,:;')):
            if not exists(path):
                problems.append(f'{doc}: {path} does not exist')
    for match in LINK.finditer(text):
        target = match.group(1).split('#')[0]
        if not target or re.match(r'[a-z]+:', target):
            continue
        path = osp.relpath(osp.normpath(osp.join(osp.dirname(doc), target)))
        if not osp.exists(osp.join(ROOT, path)):
            problems.append(f'{doc}: link {match.group(1)} ({path}) does not exist')
    return problems


def command_lines(text: str) -> List[str]:
    """Shell command lines of a page: fenced bash blocks (continuations joined) and inline
    code that starts with ``python``, ``bash`` or ``make``."""
    lines = []
    for lang, body in FENCE.findall(text):
        if lang in ('bash', 'sh', 'shell'):
            joined = re.sub(r'\\\n\s*', ' ', body)
            lines += [line.split(' #')[0].strip() for line in joined.splitlines()]
    prose = FENCE.sub('', text)
    lines += [' '.join(code.split()) for code in INLINE.findall(prose)
              if re.match(r'(\S+=\S+\s+)*(python|bash|make)\s', code)]
    return [line for line in lines if line and not line.startswith('#')]


def make_targets() -> set:
    """The targets the Makefile defines."""
    return set(re.findall(r'^([\w-]+):', read('Makefile'), re.MULTILINE))


def script_source(script: str) -> str:
    """A script's text and that of the modules it imports from its own folder (where the
    benchmarks define their shared options)."""
    source = read(script)
    folder = osp.dirname(script)
    for name in re.findall(r'^(?:from|import) (\w+)', source, re.MULTILINE):
        if osp.isfile(osp.join(ROOT, folder, name + '.py')):
            source += read(osp.join(folder, name + '.py'))
    return source


def missing_commands(text: str, doc: str) -> List[str]:
    """Commands of ``text`` whose script, option or make target does not exist."""
    problems = []
    for line in command_lines(text):
        words = line.split()
        while words and '=' in words[0] and not words[0].startswith('-'):
            words = words[1:]  # VAR=value prefixes
        if not words:
            continue
        if words[0] == 'make':
            problems += [f'{doc}: make target {target!r} not in the Makefile ({line})'
                         for target in words[1:2] if target not in make_targets()]
            continue
        if words[0] not in ('python', 'bash') or len(words) < 2:
            continue
        script = words[1]
        if script == '-m' or not script.startswith(REPO_DIRS):
            continue
        if not osp.isfile(osp.join(ROOT, script)):
            problems.append(f'{doc}: {script} does not exist ({line})')
            continue
        source = script_source(FORWARDS.get(script, script))
        for option in re.findall(r'(?<![\w-])(--[a-z][\w-]*)', ' '.join(words[2:])):
            if option != '--help' and f"'{option}'" not in source and f'"{option}"' not in source:
                problems.append(f'{doc}: {script} has no option {option} ({line})')
    return problems


def config_blocks(text: str) -> Tuple[Dict[str, str], List[str]]:
    """The config blocks of a page by file name, and the Python blocks without one."""
    blocks, problems = {}, []
    for lang, body in FENCE.findall(text):
        if lang != 'python':
            continue
        match = CONFIG_NAME.match(body.splitlines()[0]) if body.strip() else None
        if match is None:
            problems.append('a python block does not start with "# <file>.py": '
                            f'{body.splitlines()[:1]}')
        else:
            blocks[match.group(1)] = body
    return blocks, problems


def write_blocks(blocks: Dict[str, str], folder: str) -> None:
    """Write the blocks, plus the ``policy.json`` the docs tell readers to save."""
    for name, body in blocks.items():
        with open(osp.join(folder, name), 'w', encoding='utf-8') as f:
            f.write(body)
    LearnableAugmenter().save_policy(osp.join(folder, 'policy.json'))


def build(name: str, folder: str) -> tuple:
    """Load config ``name`` from ``folder`` (the working directory) and build its model and
    optimizer wrapper; check its train loop takes the train_cfg arguments. No weights load."""
    cfg = Config.fromfile(osp.join(folder, name))
    scope = cfg.get('default_scope')
    if scope is not None:
        init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        if str(cfg.model.type).endswith('TSTDistiller'):
            cfg.model.teacher_ckpt = None  # no download; the teacher stays random
        model = MODELS.build(cfg.model)
        optim_cfg = cfg.get('optim_wrapper')
        if optim_cfg is None:
            optim = None
        elif 'constructor' in optim_cfg:
            constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
                type=optim_cfg.constructor,
                optim_wrapper_cfg={k: v for k, v in optim_cfg.items() if k != 'constructor'}))
            optim = constructor(model)
            assert set(cfg.param_scheduler) == {'student', 'augmenter'}, cfg.param_scheduler
        else:
            optim = build_optim_wrapper(model, optim_cfg)
        train_cfg = dict(cfg.get('train_cfg') or {})
        train_cfg.pop('_scope_', None)  # added to the dicts of mmdet:: and mmseg:: bases
        if 'type' in train_cfg:
            loop = LOOPS.get(train_cfg.pop('type'))
            assert loop is not None, f'{name}: unknown train loop {cfg.train_cfg.type}'
            inspect.signature(loop).bind(None, None, **train_cfg)  # runner, dataloader, ...
    return cfg, model, optim


def problems_of_blocks(blocks: Dict[str, str], folder: str) -> List[str]:
    """Build every block; return one line per block that does not build."""
    write_blocks(blocks, folder)
    problems = []
    for name in blocks:
        try:
            build(name, folder)
        except Exception as err:  # every failure is a problem to report, whatever its kind
            problems.append(f'{name}: {type(err).__name__}: {str(err)[:300]}')
    return problems


@pytest.fixture
def in_tmp_dir(tmp_path, monkeypatch) -> str:
    """Run in a fresh folder: the docs' configs name each other and policy.json by
    relative paths, as when a reader runs the tools next to them."""
    monkeypatch.chdir(tmp_path)
    return str(tmp_path)


def test_the_docs_are_found():
    assert {'README.md', 'docs/get_started.md', 'docs/user_guide.md', 'docs/full_scale.md',
            'docs/design.md', 'docs/results.md', 'configs/tst/README.md'} <= set(DOCS)


@pytest.mark.parametrize('doc', DOCS)
def test_paths_and_links_exist(doc):
    assert missing_paths(read(doc), doc) == []


@pytest.mark.parametrize('doc', DOCS)
def test_commands_name_existing_scripts_and_options(doc):
    assert missing_commands(read(doc), doc) == []


DOC_BLOCKS = [(doc, name) for doc in DOCS for name in config_blocks(read(doc))[0]]


@pytest.mark.parametrize('doc', DOCS)
def test_python_blocks_are_named_configs(doc):
    assert config_blocks(read(doc))[1] == []


@pytest.mark.slow
@pytest.mark.parametrize('doc,name', DOC_BLOCKS, ids=[f'{d}:{n}' for d, n in DOC_BLOCKS])
def test_config_blocks_build(doc, name, in_tmp_dir):
    write_blocks(config_blocks(read(doc))[0], in_tmp_dir)
    build(name, in_tmp_dir)


@pytest.mark.slow
@pytest.mark.parametrize('name,max_norm,extra', [
    ('my_tst_fcos.py', 35, dict(bias_lr_mult=2.0, bias_decay_mult=0.0)),
    ('my_tst_resnet18.py', 5.0, dict(norm_decay_mult=0.0, bias_decay_mult=0.0)),
])
def test_user_guide_keeps_the_optimizer_settings(name, max_norm, extra, in_tmp_dir):
    """Moving the user's optim_wrapper under student= keeps clip_grad and paramwise_cfg."""
    write_blocks(config_blocks(read('docs/user_guide.md'))[0], in_tmp_dir)
    cfg, model, optim = build(name, in_tmp_dir)
    student = optim['student']
    assert student.clip_grad_kwargs['max_norm'] == max_norm
    assert cfg.optim_wrapper.student.paramwise_cfg == extra
    base_lr = cfg.optim_wrapper.student.optimizer.lr
    lrs = {group['lr'] for group in student.optimizer.param_groups}
    decays = {group['weight_decay'] for group in student.optimizer.param_groups}
    assert 0.0 in decays  # biases (and norms) without weight decay: paramwise_cfg applied
    if 'bias_lr_mult' in extra:
        assert lrs == {base_lr, 2 * base_lr}
    assert optim['augmenter'].optimizer.param_groups[0]['lr'] == 0.01
    if cfg.model.student == 'my_resnet18.py':  # the schedule moved too
        assert cfg.param_scheduler.student.milestones == [30, 60, 90]
    else:
        assert cfg.param_scheduler.student[-1].milestones == [8, 11]


@pytest.mark.slow
def test_user_guide_policy_moves_boxes_in_a_plain_mmdet_config(scenes_root, in_tmp_dir):
    """The guide's saved policy in a plain mmdet preprocessor shifts images and boxes in
    training only."""
    write_blocks(config_blocks(read('docs/user_guide.md'))[0], in_tmp_dir)
    shift = LearnableAugmenter(ops=['translate_x'], num_ops=None)
    shift.load_policy({'translate_x': {'magnitude': 1.0, 'probability': 1.0}})
    shift.save_policy('policy.json')
    _, model, _ = build('my_fcos_with_policy.py', in_tmp_dir)
    _, plain, _ = build('my_fcos.py', in_tmp_dir)
    batch = scenes_batch('configs/demo/faster-rcnn_r18-tiny_scenes.py', scenes_root, 2)
    with DefaultScope.overwrite_default_scope('mmdet'):
        expected = plain.data_preprocessor(copy.deepcopy(batch), True)
        got = model.data_preprocessor(copy.deepcopy(batch), True)
        tested = model.data_preprocessor(copy.deepcopy(batch), False)
    assert not torch.allclose(got['inputs'], expected['inputs'])
    torch.testing.assert_close(tested['inputs'], expected['inputs'])
    for before, after in zip(expected['data_samples'], got['data_samples']):
        old, new = before.gt_instances.bboxes, after.gt_instances.bboxes
        assert len(new) <= len(old) and not torch.equal(new, old)


BROKEN_PAGE = '''# A broken page

See [the guide](no_such_page.md) and `configs/tst/no_such_config.py`.

```bash
python tools/no_such_tool.py
python tools/train.py configs/demo/tst_fashion-mnist.py --no-such-option
make no-such-target
```

```python
x = 1
```

```python
# broken_model.py
model = dict(type='tst_mm.NoSuchModel')
```

```python
# broken_syntax.py
model = dict(type=
```
'''


def test_the_check_finds_broken_docs(in_tmp_dir):
    doc = 'docs/broken.md'
    paths = missing_paths(BROKEN_PAGE, doc)
    assert any('no_such_page.md' in p for p in paths)
    assert any('configs/tst/no_such_config.py' in p for p in paths)
    commands = missing_commands(BROKEN_PAGE, doc)
    assert any('tools/no_such_tool.py does not exist' in p for p in commands)
    assert any('no option --no-such-option' in p for p in commands)
    assert any("make target 'no-such-target'" in p for p in commands)
    blocks, unnamed = config_blocks(BROKEN_PAGE)
    assert set(blocks) == {'broken_model.py', 'broken_syntax.py'} and len(unnamed) == 1
    problems = problems_of_blocks(blocks, in_tmp_dir)
    assert len(problems) == 2
    assert any(p.startswith('broken_model.py') and 'NoSuchModel' in p for p in problems)
    assert any(p.startswith('broken_syntax.py') for p in problems)


def test_the_check_passes_a_correct_page(in_tmp_dir):
    page = ('Run `python tools/train.py configs/demo/tst_fashion-mnist.py --work-dir x` or '
            '`make demo`; configs are in `configs/tst/{faster-rcnn,retinanet}_r101_r50_coco.py`'
            ' and [design.md](design.md).\n')
    assert missing_paths(page, 'docs/page.md') == []
    assert missing_commands(page, 'docs/page.md') == []
