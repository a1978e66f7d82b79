"""Evaluating models on labelled data with the runtime alone (no TensorFlow).

Detection: :mod:`.boxdata` reads YOLO / COCO datasets, :mod:`.detect` runs a
detector over one split and scores it with pycocotools (the ``eval`` extra).
"""
