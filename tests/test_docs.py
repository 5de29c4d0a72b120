"""The docs check: what README.md and the pages under docs/ and configs/ name must exist.

- every repository path (``configs/...``, ``tools/...``, ``docs/...``, ...) and every relative
  Markdown link points at a file or folder of the repository;
- every command line runs a script of the repository that exists, with options that script
  (or the script it forwards to) defines, and every ``make`` target is in the Makefile;
- every Python block is a config whose first line names its file (``# my_tst_fcos.py``): the
  blocks of a page are written side by side into a folder, and each one loads with
  ``Config.fromfile`` and builds its model, optimizer wrapper and train loop arguments
  (teacher weights are not loaded; nothing is trained);
- the paths and commands of the scripts' docstrings (``tools/``, ``benchmarks/``) exist;
- the user guide as a user follows it: its way of pointing a stock config at the scene data
  loads and reads them; its TST, plot, export and test commands run (the demo at toy size),
  and every log line it quotes is one the run printed.

The checks return the problems they find, so that ``test_the_check_finds_broken_docs`` can
show each one failing on a broken page.
"""
import ast
import copy
import glob
import inspect
import itertools
import os
import os.path as osp
import re
import uuid
from typing import Dict, List, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope
from tst_testing import ROOT, run_tool, scenes_batch

import tst_mm  # noqa: F401
from tst_mm.augment import LearnableAugmenter
from tst_mm.distill.update import GuardedUpdate, SkipCounter
from tst_mm.errors import ConfigError
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
    """Write the blocks, plus the ``policy.json`` the docs tell readers to save, beside the
    repository's ``configs/`` (the docs' configs live in the root of the clone)."""
    for name, body in blocks.items():
        with open(osp.join(folder, name), 'w', encoding='utf-8') as f:
            f.write(body)
    LearnableAugmenter().save_policy(osp.join(folder, 'policy.json'))
    if not osp.exists(osp.join(folder, 'configs')):
        os.symlink(osp.join(ROOT, 'configs'), osp.join(folder, 'configs'))


def build(name: str, folder: str) -> tuple:
    """Load config ``name`` from ``folder`` (the working directory) and build its model and
    optimizer wrapper; check its train loop takes the train_cfg arguments. No weights load."""
    cfg = Config.fromfile(osp.join(folder, name))
    scope = cfg.get('default_scope')
    if scope is not None:
        init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner hands it over
            cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
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


SCRIPTS = sorted(osp.relpath(path, ROOT) for path in [
    *glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True),
    *glob.glob(osp.join(ROOT, 'benchmarks', '*.py'))])


def docstring_commands(docstring: str) -> str:
    """The command lines of a script's docstring (``python tools/...``, ``bash ...``), as a
    fenced bash block for :func:`missing_commands`."""
    lines = re.sub(r'\\\n\s*', ' ', docstring).splitlines()
    commands = [line.strip() for line in lines
                if re.match(r'\s*(python|bash) (tools|benchmarks)/', line)]
    return '```bash\n' + '\n'.join(commands) + '\n```\n'


@pytest.mark.parametrize('script', SCRIPTS)
def test_script_docstrings_name_existing_paths_and_commands(script):
    """tools/train.py's docstring named a config that does not exist."""
    docstring = ast.get_docstring(ast.parse(read(script))) or ''
    assert missing_paths(docstring, script) == []
    assert missing_commands(docstring_commands(docstring), script) == []


# ---------------------------------------------------------------- stock configs on the scenes
SCENE_FILES = {'configs/_base_/datasets/scenes_coco_for_stock.py':
               'configs/_base_/datasets/scenes_coco.py',
               'configs/_base_/datasets/scenes_cityscapes_for_stock.py':
               'configs/_base_/datasets/scenes_cityscapes.py'}
SCENE_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
              'test_evaluator')


def _without_delete(value):
    if isinstance(value, dict):
        return {key: _without_delete(item) for key, item in value.items() if key != '_delete_'}
    if isinstance(value, (list, tuple)):
        return [_without_delete(item) for item in value]
    return value


@pytest.mark.parametrize('for_stock', sorted(SCENE_FILES))
def test_scene_data_for_stock_configs_is_the_demos(for_stock):
    """The files a stock config lists as a second _base_ hold the demos' scene settings,
    each marked to replace the stock one, under one key that no stock config has."""
    cfg = Config.fromfile(osp.join(ROOT, for_stock))
    demo = Config.fromfile(osp.join(ROOT, SCENE_FILES[for_stock]))
    assert set(cfg.keys()) == {'scenes'}
    for key in SCENE_KEYS:
        assert cfg.scenes[key]['_delete_'] is True, key
        assert _without_delete(cfg.scenes[key].to_dict()) == _without_delete(
            demo[key].to_dict()), key
    if 'crop_size' in cfg.scenes:
        assert tuple(cfg.scenes.crop_size) == tuple(demo.crop_size)


def _guide_scene_configs(folder: str) -> None:
    write_blocks(config_blocks(read('docs/user_guide.md'))[0], folder)


@pytest.mark.slow
def test_user_guide_points_a_stock_config_at_the_scenes(scenes_root, in_tmp_dir):
    """The guide's way loads (a second _base_ of scenes_coco.py does not), replaces the stock
    data settings whole, and its dataloader reads the scenes."""
    from mmengine.runner import Runner
    _guide_scene_configs(in_tmp_dir)
    with open('duplicate.py', 'w') as f:
        f.write("_base_ = ['my_fcos.py', 'configs/_base_/datasets/scenes_coco.py']\n")
    with pytest.raises(KeyError, match='Duplicate key is not allowed among bases'):
        Config.fromfile('duplicate.py')
    cfg = Config.fromfile('my_fcos_scenes.py')
    demo = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/scenes_coco.py'))
    for key in SCENE_KEYS:  # nothing of COCO's settings is left (persistent_workers, ...)
        assert cfg[key].to_dict() == demo[key].to_dict(), key
    assert cfg.model.bbox_head.num_classes == 10
    cfg.train_dataloader.dataset.data_root = osp.join(scenes_root, 'coco') + '/'
    init_default_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    assert len(batch['inputs']) == cfg.train_dataloader.batch_size
    assert batch['data_samples'][0].gt_instances.bboxes.shape[0] > 0


@pytest.mark.slow
def test_user_guide_scene_preprocessor_needs_the_top_level_key_too(in_tmp_dir):
    """A TST config on the guide's mmseg scenes config builds; with the size set in the
    model's preprocessor alone, the distiller refuses, naming the top-level key."""
    _guide_scene_configs(in_tmp_dir)
    tst = read_block('docs/user_guide.md', 'my_tst_pspnet.py')
    teacher = re.search(r"teacher='[^']*'", tst).group(0)  # a teacher on the scenes too
    tst = tst.replace("_base_ = 'my_pspnet.py'", "_base_ = 'my_pspnet_scenes.py'").replace(
        teacher, "teacher='my_pspnet_scenes.py'")
    with open('my_tst_pspnet_scenes.py', 'w') as f:
        f.write(tst)
    cfg, model, _ = build('my_tst_pspnet_scenes.py', in_tmp_dir)
    assert tuple(model.data_preprocessor.size) == (128, 128)
    scenes = read_block('docs/user_guide.md', 'my_pspnet_scenes.py')
    assert 'data_preprocessor = dict(size=' in scenes
    with open('my_pspnet_scenes.py', 'w') as f:  # the top-level key left at the stock size
        f.write(scenes.replace('data_preprocessor = dict(size=', 'unused = dict(size='))
    with pytest.raises(ConfigError, match=r"size=\[512, 1024\] \(distiller\) vs \[128, 128\] "
                       r"\(student\).*top-level `data_preprocessor` key"):
        build('my_tst_pspnet_scenes.py', in_tmp_dir)


def read_block(doc: str, name: str) -> str:
    """The config block ``name`` of ``doc``."""
    return config_blocks(read(doc))[0][name]


# ---------------------------------------------------------------- the guide's log lines
#: a value the guide writes as ``...``
VALUE = r'(?:-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|-?inf)'
LOG_MESSAGE = re.compile(r' - mmengine - (?:INFO|WARNING) - (.*)$')


def quoted_log_lines(text: str) -> List[str]:
    """The log lines a page quotes: inline code starting with ``TST `` in its section
    "Read the logs and pictures", blanks joined."""
    section = text.split('## Read the logs and pictures', 1)[1].split('\n## ', 1)[0]
    return [' '.join(code.split()) for code in INLINE.findall(FENCE.sub('', section))
            if code.startswith('TST ')]


def log_line_pattern(quote: str) -> re.Pattern:
    """A quoted line as a pattern: ``...`` stands for a value, and its numbers (epochs,
    passes, iterations, counts) for any number."""
    parts = re.split(r'(\.\.\.|\d+(?:\.\d+)?)', quote)
    return re.compile(''.join(
        VALUE if part == '...' else r'\d+(?:\.\d+)?' if re.fullmatch(r'[\d.]+', part)
        else re.escape(part) for part in parts))


def unmatched_quotes(quotes: List[str], messages: List[str]) -> List[str]:
    """The quoted lines that no message matches (whole)."""
    return [quote for quote in quotes
            if not any(log_line_pattern(quote).fullmatch(m) for m in messages)]


def guide_command(prefix: str) -> str:
    """The first command line of the user guide that starts with ``prefix``."""
    for line in command_lines(read('docs/user_guide.md')):
        if line.startswith(prefix):
            return line
    raise AssertionError(f'docs/user_guide.md has no command starting with {prefix!r}')


def run_guide_command(line: str, cwd: str, options: Tuple[str, ...] = (),
                      replace: Dict[str, str] = None) -> str:
    """Run a command line of the guide in ``cwd`` (its repository paths made absolute, the
    ``replace`` substrings replaced, ``options`` added to its ``--cfg-options``); what it
    printed (stdout, then stderr)."""
    for old, new in (replace or {}).items():
        line = line.replace(old, new)
    words = line.split()
    assert words[0] == 'python', line
    words = [osp.join(ROOT, word) if word.startswith(('tools/', 'configs/')) else word
             for word in words[1:]]
    if options:
        words += [] if '--cfg-options' in words else ['--cfg-options']
        words += list(options)
    proc = run_tool(*words, cwd=cwd)
    return proc.stdout + proc.stderr


def _messages(log_text: str) -> List[str]:
    return [match.group(1) for match in map(LOG_MESSAGE.search, log_text.splitlines())
            if match]


def _skip_warning(folder: str) -> List[str]:
    """The messages of a search step skipped for a non-finite loss."""
    log_file = osp.join(folder, 'skip.log')
    MMLogger.get_instance(f'docs_skip_{uuid.uuid4().hex}', log_file=log_file)
    augmenter = LearnableAugmenter()
    wrapper = OptimWrapper(torch.optim.SGD(augmenter.parameters(), lr=0.01, momentum=0.9))
    with GuardedUpdate(wrapper, augmenter, 'search', keep_params=True,
                       counter=SkipCounter()) as update:
        assert not update.apply(augmenter.probabilities().sum() * float('nan'),
                                augmenter.parameters())
    with open(log_file, encoding='utf-8') as f:
        return _messages(f.read())


def test_log_line_patterns():
    pattern = log_line_pattern('TST search pass 1/1 before epoch 7: mean loss: ...')
    assert pattern.fullmatch('TST search pass 1/1 before epoch 2: mean loss: -0.1234')
    assert not pattern.fullmatch('TST search pass 1/1 before epoch 2: mean loss: 1.0, more')
    quotes = quoted_log_lines('## Read the logs and pictures\n\n- `TST teacher on the '
                              'validation set:\n  accuracy/top1: ...` once\n\n## Next\n'
                              '`TST elsewhere`\n')
    assert quotes == ['TST teacher on the validation set: accuracy/top1: ...']
    printed = 'TST teacher on the validation set: teacher.accuracy/top1: 89.6300'
    assert unmatched_quotes(quotes, [printed]) == quotes  # what the guide said before
    assert unmatched_quotes([quotes[0].replace(' accuracy', ' teacher.accuracy')],
                            [printed]) == []


@pytest.mark.slow
def test_user_guide_commands_print_the_lines_it_quotes(fashion_mnist_root, tmp_path):
    """The guide's commands as a user runs them, at toy size (64 images, 1 iteration an
    epoch): its teacher, its TST run (4 epochs, two search phases) from that teacher, then its
    plot, export and test commands; every log line the guide quotes is one the run printed
    (or, for a skipped step, the guard)."""
    data = [f'{split}_dataloader.dataset.data_root={fashion_mnist_root}'
            for split in ('train', 'val', 'test')]
    toy = [*data, 'train_dataloader.dataset.indices=64', 'train_dataloader.batch_size=64',
           'val_dataloader.dataset.indices=64', 'test_dataloader.dataset.indices=64',
           'train_cfg.log_interval=1', 'train_cfg.val_interval=4']
    cwd = str(tmp_path)
    run_guide_command(guide_command(
        'python tools/train.py configs/demo/resnet18-tiny_fashion-mnist.py'), cwd, toy[:-2])
    assert (tmp_path / 'work_dirs' / 'demo' / 'teacher' / 'epoch_2.pth').is_file()
    printed = run_guide_command(
        guide_command('python tools/train.py configs/demo/tst_fashion-mnist.py'), cwd, toy)
    # every search pass warned this, from the policy logger
    assert 'Converting a tensor with requires_grad=True' not in printed
    work_dir = tmp_path / 'work_dirs' / 'my_tst'
    (log_file, ) = glob.glob(str(work_dir / '*' / '*.log'))
    with open(log_file, encoding='utf-8') as f:
        messages = _messages(f.read())
    quotes = quoted_log_lines(read('docs/user_guide.md'))
    assert len(quotes) >= 5, quotes
    assert unmatched_quotes(quotes, messages + _skip_warning(cwd)) == []
    run_guide_command(guide_command('python tools/plot_policy.py work_dirs/my_tst'), cwd)
    assert osp.getsize(work_dir / 'policy.png') > 10_000
    run_guide_command(guide_command('python tools/export_student.py work_dirs/my_tst'), cwd,
                      toy)
    out = run_guide_command(guide_command('python tools/test.py student.py'), cwd)
    assert 'accuracy/top1' in out


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
