"""TST for mmdet detectors, one job per file: the adapter (:mod:`.adapter`), the detector's
family (:mod:`.family`), recording its outputs (:mod:`.capture`), its RoI head (:mod:`.roi`),
its dense heads (:mod:`.dense_heads`) and the boxes of a step (:mod:`.boxes`)."""
from .adapter import DetectionAdapter

__all__ = ['DetectionAdapter']
