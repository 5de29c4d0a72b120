"""The README's main job, shrunk: data, teacher, KD and TST students, table and policy PNG;
and the docs quote what the demo prints."""
import os.path as osp
import re

import pytest
from tst_testing import ROOT, load_script, run_tool

#: The pages that quote the demo's final output, and the one that only quotes the range.
QUOTING_DOCS = ('README.md', 'docs/results.md')
RANGE_DOCS = QUOTING_DOCS + ('docs/get_started.md', )
RANGE = re.compile(r'\s+'.join([r'teacher', r'(\d+\.\d+)', 'to', r'(\d+\.\d+),', 'KD',
                                r'(\d+\.\d+)', 'to', r'(\d+\.\d+)', 'and', 'TST', r'(\d+\.\d+)',
                                'to', r'(\d+\.\d+)']))


def _read(doc: str) -> str:
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        return f.read()


def _quoted_output(doc: str) -> str:
    match = re.search(r'^```text\n(Fashion-MNIST demo, .*?)^```', _read(doc), re.M | re.S)
    assert match, f'{doc} quotes no demo output'
    return match.group(1).strip()


@pytest.mark.parametrize('doc', QUOTING_DOCS)
def test_docs_quote_the_demo_output_as_printed(doc):
    """The README showed a table with other row names than the demo prints."""
    demo = load_script('tools/demo.py')
    quoted = _quoted_output(doc)
    heading = re.match(r'Fashion-MNIST demo, (\d+) training images, (\d+) student epochs:',
                       quoted)
    rows = dict(re.findall(r'^\| ([^|]+?) \| (\d+\.\d+) \|$', quoted, re.M))
    results = {name: float(top1) for name, top1 in rows.items()}
    assert heading and list(results) == ['teacher', 'KD', 'TST']
    assert demo.summary(results, int(heading[1]), int(heading[2])) == quoted
    defaults = demo.parse_args([])  # the run quoted is the default one
    assert (int(heading[1]), int(heading[2])) == (defaults.subset, defaults.epochs)


def test_docs_give_one_range_that_holds_the_quoted_run():
    """The figures vary from machine to machine: every page that quotes them says by how
    much, with the same range, which holds the run it quotes."""
    ranges = set()
    for doc in RANGE_DOCS:
        match = RANGE.search(_read(doc))
        assert match, f'{doc} does not give the range of the demo figures'
        ranges.add(tuple(float(value) for value in match.groups()))
    assert len(ranges) == 1
    low_high = dict(zip(('teacher', 'KD', 'TST'), zip(*[iter(ranges.pop())] * 2)))
    for doc in QUOTING_DOCS:
        rows = dict(re.findall(r'^\| ([^|]+?) \| (\d+\.\d+) \|$', _quoted_output(doc), re.M))
        for name, (low, high) in low_high.items():
            assert low <= float(rows[name]) <= high, (doc, name)


@pytest.mark.slow
def test_demo_end_to_end(fashion_mnist_root, tmp_path):
    proc = run_tool('tools/demo.py', '--work-dir', str(tmp_path), '--data-root',
                    fashion_mnist_root, '--teacher-epochs', '1', '--teacher-subset', '1024',
                    '--epochs', '2', '--subset', '256', '--val-subset', '256',
                    '--with-baseline')
    out = proc.stdout
    for row in ('| teacher |', '| student alone |', '| KD |', '| TST |'):
        assert row in out, out[-3000:]
    assert 'Fashion-MNIST demo, 256 training images, 2 student epochs:\n| model |' in out
    assert '| - |' not in out  # every row has a measured accuracy
    assert osp.getsize(tmp_path / 'tst_policy.png') > 10_000
    assert (tmp_path / 'results.md').read_text().count('|') > 10
    # a second run reuses the cached teacher and students instead of training again
    again = run_tool('tools/demo.py', '--work-dir', str(tmp_path), '--data-root',
                     fashion_mnist_root, '--teacher-epochs', '1', '--epochs', '2',
                     '--subset', '256', '--val-subset', '256')
    assert 'teacher: cached' in again.stdout and 'TST: cached' in again.stdout
