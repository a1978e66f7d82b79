"""Object detection: output layouts, YOLO and SSD heads, NMS, boxes mapped back to the source image.

:mod:`.layouts` recognises a detector from its output shapes and :mod:`.units` decides,
once per model, what its numbers mean (box units, score kind); :mod:`.decode` turns
one frame's outputs into :class:`~edgekit.results.Detection` records through
:mod:`.yolo` / :mod:`.ssd` (candidates), :mod:`.nms` and :mod:`.boxes` (pure box maths).
Nothing is imported here: a classifier never pays for the detection code.
"""
