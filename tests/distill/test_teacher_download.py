"""URL teachers: fetched into the torch hub cache, hash-checked, loaded with weights_only=True."""
import argparse
import hashlib
import json
import logging
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import BaseStorageBackend, register_backend
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import (
    get_external_models,
    get_mmcls_models,
    get_torchvision_models,
)
from tst_testing import ROOT

import tst_mm  # noqa: F401
from tst_mm.distill import TeacherCheckpointError
from tst_mm.distill.teacher_loading import cache_path, hash_prefix, zoo_location
from tst_mm.registry import MODELS

TST_CONFIG = osp.join(ROOT, 'configs/demo/tst_fashion-mnist.py')
#: The refusal of a checkpoint holding an argparse namespace: the global, not torch's advice.
REFUSED = 'weights_only=True refuses the global argparse.Namespace it holds'


pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


@pytest.fixture
def hub_dir(tmp_path):
    """A private torch hub cache, so the test neither reads nor fills the user's."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub' / 'checkpoints'
    torch.hub.set_dir(previous)


def _distiller(teacher_ckpt):
    cfg = Config.fromfile(TST_CONFIG).model
    cfg.teacher_ckpt = teacher_ckpt
    return MODELS.build(cfg)


def _random_teacher_state() -> dict:
    """A state dict of the demo teacher with random weights (so a load is told apart)."""
    teacher = _distiller(None).teacher
    return {key: torch.randn_like(value) if value.is_floating_point() else value
            for key, value in teacher.state_dict().items()}


def _published(tmp_path, state: dict, digest: str = None, hashed: bool = True,
               folder: str = 'served') -> str:
    """Save ``state`` under a model-zoo style name ``teacher_20260101-<sha256[:8]>.pth`` (or
    ``teacher_20260101.pth`` when not ``hashed``) in ``tmp_path / folder``."""
    raw = tmp_path / 'raw.pth'
    torch.save(state, raw)
    digest = digest or hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    name = f'teacher_20260101-{digest}.pth' if hashed else 'teacher_20260101.pth'
    served = tmp_path / folder / name
    served.parent.mkdir(parents=True, exist_ok=True)
    raw.replace(served)
    return served.as_uri()  # file:///...


def test_hash_prefix_is_the_last_hex_run_of_the_name():
    coco = ('https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/x/faster_rcnn_r101_'
            'fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth')
    assert hash_prefix(coco) == '1d2dac9c'  # torch.hub's own pattern would take '0'
    assert hash_prefix('https://x/resnet34_8xb32_in1k_20210831-f257d4e6.pth') == 'f257d4e6'
    assert hash_prefix('https://x/teacher.pth') is None


def test_good_hash_downloads_into_the_hub_cache_and_loads(tmp_path, hub_dir):
    teacher = _distiller(None).teacher
    expected = {key: torch.randn_like(value) if value.is_floating_point() else value
                for key, value in teacher.state_dict().items()}
    url = _published(tmp_path, dict(state_dict=expected,
                                    meta=dict(dataset_meta=dict(classes=['a'] * 10))))
    model = _distiller(url)
    model.init_weights()
    assert osp.isfile(hub_dir / osp.basename(url))
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert model.teacher_classes == ('a', ) * 10


def test_wrong_hash_is_a_one_line_error_and_leaves_no_file(tmp_path, hub_dir):
    teacher = _distiller(None).teacher
    url = _published(tmp_path, dict(state_dict=teacher.state_dict()), digest='deadbeef')
    model = _distiller(url)
    with pytest.raises(TeacherCheckpointError, match='invalid hash value') as err:
        model.init_weights()
    assert '\n' not in str(err.value) and 'sha256 starts with deadbeef' in str(err.value)
    assert not osp.exists(hub_dir / osp.basename(url))


def test_checkpoint_that_weights_only_refuses_is_a_one_line_error(tmp_path, hub_dir):
    # e.g. the argparse namespace some old training scripts stored in their checkpoints
    url = _published(tmp_path, dict(state_dict={}, meta=dict(args=argparse.Namespace(lr=1))))
    model = _distiller(url)
    with pytest.raises(TeacherCheckpointError, match=REFUSED) as err:
        model.init_weights()
    assert '\n' not in str(err.value) and 'argparse.Namespace' in str(err.value)


def test_openmmlab_names_are_read_like_the_url_they_stand_for(tmp_path, hub_dir, monkeypatch):
    # mmengine's own table
    assert zoo_location('open-mmlab://resnet50_v1c') == (
        get_external_models()['resnet50_v1c']) == ('https://download.openmmlab.com/pretrain/'
                                                   'third_party/resnet50_v1c-2cccc1ad.pth')
    # names a user adds through $MMENGINE_HOME/open_mmlab.json, as mmengine reads them
    teacher = _distiller(None).teacher
    expected = {key: torch.randn_like(value) if value.is_floating_point() else value
                for key, value in teacher.state_dict().items()}
    good = _published(tmp_path, dict(state_dict=expected))
    unsafe = _published(tmp_path, dict(state_dict={}, meta=dict(args=argparse.Namespace(lr=1))))
    home = tmp_path / 'mmengine_home'
    home.mkdir()
    (home / 'open_mmlab.json').write_text(json.dumps(dict(tst_good=good, tst_unsafe=unsafe)))
    monkeypatch.setenv('MMENGINE_HOME', str(home))

    model = _distiller('open-mmlab://tst_good')
    model.init_weights()
    assert osp.isfile(hub_dir / osp.basename(good))  # fetched with its hash checked
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, expected[key]), key
    # mmengine's loader would unpickle this one without weights_only
    with pytest.raises(TeacherCheckpointError, match=REFUSED):
        _distiller('openmmlab://tst_unsafe').init_weights()
    with pytest.raises(TeacherCheckpointError, match="knows no model 'no_such_model'"):
        _distiller('open-mmlab://no_such_model').init_weights()


class _Warnings:
    """The warnings tst_mm logs through mmengine's current logger while inside."""

    def __enter__(self) -> list:
        self.records = []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self.records.append
        MMLogger.get_current_instance().addHandler(self.handler)
        return self.records

    def __exit__(self, *exc) -> None:
        MMLogger.get_current_instance().removeHandler(self.handler)


def _assert_loaded(model, expected: dict) -> None:
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_a_copy_already_in_the_hub_cache_is_hash_checked(tmp_path, hub_dir):
    expected = _random_teacher_state()
    url = _published(tmp_path, dict(state_dict=expected))
    with _Warnings() as warnings:
        _distiller(url).init_weights()  # downloaded, checked as it is written
        model = _distiller(url)
        model.init_weights()  # the cached copy, checked again
    _assert_loaded(model, expected)
    assert not [r for r in warnings if url in r.getMessage()]  # a hash: nothing to warn about
    # another file in its place (mmengine's loader writes here without a check)
    torch.save(dict(state_dict=_random_teacher_state()), hub_dir / osp.basename(url))
    with pytest.raises(TeacherCheckpointError, match='fails its hash check') as err:
        _distiller(url).init_weights()
    message = str(err.value)
    assert '\n' not in message and str(hub_dir / osp.basename(url)) in message
    assert f'starts with {hash_prefix(url)}' in message


def test_a_url_without_a_hash_in_its_name_loads_with_a_warning(tmp_path, hub_dir):
    expected = _random_teacher_state()
    url = _published(tmp_path, dict(state_dict=expected), hashed=False)
    assert hash_prefix(url) is None
    cached = cache_path(url)
    for fetched in (False, True):  # downloaded, then the copy in the cache
        assert osp.isfile(cached) is fetched
        with _Warnings() as warnings:
            model = _distiller(url)
            model.init_weights()
        _assert_loaded(model, expected)
        (warning, ) = [r for r in warnings if url in r.getMessage()]
        assert warning.levelno == logging.WARNING and 'no sha256 prefix' in warning.getMessage()
        assert cached in warning.getMessage()


def test_urls_with_the_same_file_name_are_cached_apart(tmp_path, hub_dir):
    """``.../a/epoch_1.pth`` then ``.../b/epoch_1.pth``: each run loads its own file."""
    first, second = _random_teacher_state(), _random_teacher_state()
    url_a = _published(tmp_path, dict(state_dict=first), hashed=False, folder='a')
    url_b = _published(tmp_path, dict(state_dict=second), hashed=False, folder='b')
    assert osp.basename(url_a) == osp.basename(url_b)
    for url, expected in ((url_a, first), (url_b, second), (url_a, first)):
        model = _distiller(url)
        model.init_weights()
        _assert_loaded(model, expected)
    assert cache_path(url_a) != cache_path(url_b)
    assert all(cache_path(url).startswith(str(hub_dir)) for url in (url_a, url_b))


def test_a_cached_copy_of_a_url_without_a_hash_is_named_and_refreshed_by_deleting_it(
        tmp_path, hub_dir):
    """One URL whose file was replaced (a retrained teacher): the cached copy is used, and the
    warning says which file it is and how to download the URL again."""
    old, new = _random_teacher_state(), _random_teacher_state()
    url = _published(tmp_path, dict(state_dict=old), hashed=False)
    _distiller(url).init_weights()
    _published(tmp_path, dict(state_dict=new), hashed=False)  # retrained, same URL
    with _Warnings() as warnings:
        model = _distiller(url)
        model.init_weights()
    _assert_loaded(model, old)
    (warning, ) = [r.getMessage() for r in warnings if url in r.getMessage()]
    assert f'using the copy downloaded to {cache_path(url)} on ' in warning
    assert 'delete it to download the URL again' in warning
    os.remove(cache_path(url))
    model = _distiller(url)
    model.init_weights()
    _assert_loaded(model, new)


def test_a_damaged_download_names_its_cached_copy(tmp_path, hub_dir):
    """A URL that served something else (an error page): the copy in the cache is named, and
    deleting it downloads the URL again."""
    url = _published(tmp_path, {}, hashed=False)
    page = tmp_path / 'served' / osp.basename(url)
    page.write_text('<html><body>Service Unavailable</body></html>\n')
    with pytest.raises(TeacherCheckpointError) as err:
        _distiller(url).init_weights()
    assert str(err.value) == (
        f'cannot load teacher_ckpt {url} (its copy in {cache_path(url)}): it is not a torch '
        "checkpoint (46 bytes starting with the text '<html><body>Service Unavailable</body></'"
        '): delete the copy to download it again')
    expected = _random_teacher_state()
    _published(tmp_path, dict(state_dict=expected), hashed=False)
    os.remove(cache_path(url))
    model = _distiller(url)
    model.init_weights()
    _assert_loaded(model, expected)


@pytest.mark.parametrize('name, table', [('torchvision://resnet18', get_torchvision_models),
                                         ('modelzoo://resnet18', get_torchvision_models),
                                         ('mmcls://resnet18', get_mmcls_models)])
def test_torchvision_and_mmcls_names_are_read_as_their_url_with_its_hash(name, table, hub_dir):
    url = table()['resnet18']
    assert hash_prefix(url) is not None
    # a file in the hub cache under that URL's name that is not the published one: mmengine's
    # loader would read it unchecked (and unpickle it fully)
    hub_dir.mkdir(parents=True)
    torch.save(dict(state_dict=_random_teacher_state()), hub_dir / osp.basename(url))
    with pytest.raises(TeacherCheckpointError, match='fails its hash check'):
        _distiller(name).init_weights()
    assert zoo_location(name) == url
    with pytest.raises(TeacherCheckpointError, match="knows no model 'no_such_model'"):
        _distiller(name.split('://')[0] + '://no_such_model').init_weights()


class _FolderBackend(BaseStorageBackend):
    """``tsttest://PATH``: a storage mmengine's file backends read (as they read ``s3://``)."""

    def get(self, filepath) -> bytes:
        with open(str(filepath)[len('tsttest://'):], 'rb') as f:
            return f.read()

    def get_text(self, filepath, encoding='utf-8') -> str:
        return self.get(filepath).decode(encoding)


def test_other_storages_are_read_through_mmengine_file_backends_checked_and_safely(tmp_path):
    register_backend('tst_test_folder', _FolderBackend, force=True, prefixes='tsttest')

    def stored(state: dict, **kwargs) -> str:
        served = _published(tmp_path, state, **kwargs)[len('file://'):]
        kept = tmp_path / 'store' / osp.basename(served)
        kept.parent.mkdir(exist_ok=True)
        shutil.move(served, kept)
        return f'tsttest://{kept}'

    expected = _random_teacher_state()
    hashed = stored(dict(state_dict=expected))
    with _Warnings() as warnings:
        model = _distiller(hashed)
        model.init_weights()
    _assert_loaded(model, expected)
    assert not [r for r in warnings if hashed in r.getMessage()]
    with pytest.raises(TeacherCheckpointError, match='fails its hash check'):
        _distiller(stored(dict(state_dict=expected), digest='deadbeef')).init_weights()
    unsafe = stored(dict(state_dict={}, meta=dict(args=argparse.Namespace(lr=1))))
    with pytest.raises(TeacherCheckpointError, match=REFUSED):
        _distiller(unsafe).init_weights()
    plain = stored(dict(state_dict=expected), hashed=False)
    with _Warnings() as warnings:
        model = _distiller(plain)
        model.init_weights()
    _assert_loaded(model, expected)
    assert [r.levelno for r in warnings if plain in r.getMessage()] == [logging.WARNING]
    with pytest.raises(TeacherCheckpointError, match='file backends'):
        _distiller('nosuchstorage://x/teacher.pth').init_weights()
