"""The compatibility matrix: every stock model of ``tools/compat_matrix.py`` trains through TST
(distillation and search losses, finite, the policy moves, ``runner.test()`` reports its
metric) or is refused at build in one line; ``docs/supported.md`` says exactly that."""
import math

import pytest
from tst_testing import load_script

compat = load_script('tools/compat_matrix.py')
with open(compat.DOC) as f:
    COMMITTED_TEXT = f.read()
COMMITTED = {row['model']: row for row in compat.parse_rows(COMMITTED_TEXT)}


def compared(row: dict) -> dict:
    """A row without its timing columns (measured, so they vary from run to run)."""
    return {key: value for key, value in row.items() if key not in compat.TIMING_COLUMNS}


def test_matrix_lists_every_model_and_is_rendered_by_the_tool():
    assert list(COMMITTED) == [entry.name for entry in compat.ENTRIES]
    assert compat.render(list(COMMITTED.values())) == COMMITTED_TEXT
    for row in COMMITTED.values():
        timings = [row[column] for column in compat.TIMING_COLUMNS]
        if row['status'].startswith('refused'):
            assert timings == ['—', '—']
        else:
            assert all(float(value) > 0 for value in timings)


@pytest.mark.slow
@pytest.mark.parametrize('entry', compat.ENTRIES, ids=lambda entry: entry.name)
def test_stock_model_trains_or_is_refused_at_build(entry, scenes_root, fashion_mnist_root,
                                                   tmp_path):
    result = compat.run_entry(entry, scenes_root, fashion_mnist_root, str(tmp_path),
                              timing=False)
    if result.refusal is None:
        search, distill = result.search_keys, result.distill_keys
        assert len(search['augment.loss_weakness']) == 1 and len(distill['loss']) == 3
        assert {'augment.loss_teacher', 'augment.loss_weakness'} <= set(search)
        assert set(result.kd_losses) and set(result.kd_losses) <= set(distill)
        assert any(key.startswith('student.') for key in distill)
        for key, values in {**search, **distill}.items():
            assert all(math.isfinite(value) for value in values), (key, values)
        assert result.policy_moved
        metric = result.metrics[compat.TASKS[entry.task]['metric']]
        assert math.isfinite(metric) and -1 <= metric <= 100
    else:
        assert result.refusal and '\n' not in result.refusal
        assert not (result.search_keys or result.distill_keys)
    assert compared(result.row()) == compared(COMMITTED[entry.name]), (
        f'docs/supported.md is stale for {entry.name}: run python tools/compat_matrix.py')
