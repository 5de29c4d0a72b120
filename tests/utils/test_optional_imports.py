"""tst_mm imports without mmdet, mmseg or mmcv's compiled ops, and only then leaves their parts
out; any other failed import is raised."""
import json
import subprocess
import sys

import pytest
from tst_testing import ROOT

#: The parts of tst_mm that need mmdet or mmseg.
OPTIONAL = ('datasets.SceneCocoDataset', 'datasets.SceneSegDataset',
            'datasets.DigitSceneSegDataset', 'augment.SegDataPreProcessorWithAugments')


def _import_without(*modules: str) -> subprocess.CompletedProcess:
    """Import tst_mm in a fresh process in which ``modules`` are not found (as if not
    installed: Python's own ``ModuleNotFoundError``); it prints which of its optional parts it
    has, as JSON."""
    code = (
        'import json, sys\n'
        'class NotInstalled:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        f'        if name in {modules!r}:\n'
        '            raise ModuleNotFoundError(f"No module named {name!r}", name=name)\n'
        'sys.meta_path.insert(0, NotInstalled())\n'
        'import tst_mm\n'
        'from tst_mm import augment, datasets\n'
        f'print(json.dumps({{part: eval(part) is not None for part in {OPTIONAL!r}}}))\n'
        'print(json.dumps(tst_mm.LearnableAugmenter.__name__))\n')
    return subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('missing', [('mmcv._ext', ), ('mmdet', 'mmseg')])
def test_without_the_detection_and_segmentation_toolboxes_their_parts_are_left_out(missing):
    proc = _import_without(*missing)
    assert proc.returncode == 0, proc.stderr
    parts, augmenter = map(json.loads, proc.stdout.splitlines()[-2:])
    assert parts == dict.fromkeys(OPTIONAL, False)
    assert augmenter == 'LearnableAugmenter'  # classification needs none of them


@pytest.mark.parametrize('broken', ['tst_mm.datasets.scene_detection',
                                    'tst_mm.datasets.scene_segmentation',
                                    'tst_mm.augment.seg_data_preprocessor',
                                    'mmdet.datasets'])
def test_any_other_failed_import_is_raised(broken):
    proc = _import_without(broken)
    assert proc.returncode != 0
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line == f"ModuleNotFoundError: No module named '{broken}'"


def test_with_every_toolbox_every_part_is_there():
    proc = _import_without()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-2]) == dict.fromkeys(OPTIONAL, True)
