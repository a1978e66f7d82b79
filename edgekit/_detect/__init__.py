"""Object detection: output layouts, YOLO and SSD heads, NMS, boxes mapped back to the source image.

:mod:`.layouts` recognises a detector from its output shapes; :mod:`.decode` turns one
frame's outputs into :class:`~edgekit.results.Detection` records through :mod:`.yolo` /
:mod:`.ssd` (candidates), :mod:`.nms` and :mod:`.boxes` (pure box maths).
Nothing is imported here: a classifier never pays for the detection code.
"""
