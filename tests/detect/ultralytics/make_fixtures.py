#!/usr/bin/env python3
"""Reproduce edgekit's Ultralytics TFLite test fixtures (real exports + Ultralytics' own predictions).

Uses `ultralytics` only as a pip-installed library. Nothing here needs network access beyond the package index
used for the installs below: no weights or assets are downloaded (the models are built from Ultralytics' bundled
YAMLs and made image-dependent here; the onnx2tf calibration sample file is generated locally).

Setup (x86_64 Linux, Python 3.11, CPU only). Two throw-away venvs, because the two export routes pin
incompatible protobuf majors (litert-torch pulls protobuf 7, TensorFlow 2.19 for onnx2tf needs protobuf 5):

    python3 -m venv /work/ultra/venv          # litert route, predictions, timing
    /work/ultra/venv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics==8.4.190 \
        scikit-image opencv-python-headless "litert-torch>=0.10.0" "ai-edge-litert>=2.3.0" "ai-edge-quantizer>=0.10.0"

    python3 -m venv /work/ultra/venv-tf       # saved_model (onnx2tf) route
    /work/ultra/venv-tf/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics==8.4.190 \
        scikit-image opencv-python-headless "tensorflow<=2.19.0" "tf_keras<=2.19.0" "onnx2tf>=1.26.3,<1.29.0" \
        "sng4onnx>=1.0.1" "onnx_graphsurgeon>=0.3.26" "ai-edge-litert>=1.2.0" "onnx>=1.12.0,<2.0.0" \
        "onnxslim>=0.1.82" onnxruntime "protobuf>=5"

    apt-get install -y ffmpeg                 # only to encode clip.mp4 as H.264 (falls back to OpenCV mp4v)

Run, in order (WORK defaults to /work/ultra/work, OUT to /work/staging/ultralytics):

    V=/work/ultra/venv/bin/python; VTF=/work/ultra/venv-tf/bin/python
    $V   make_fixtures.py inputs              # OUT/images/*.png, OUT/clip.mp4, WORK/calib (int8 calibration set)
    $V   make_fixtures.py models              # WORK/{yolov8n,yolo11n,yolo26n}.pt: BN recalibrated, cls bias tuned
    $V   make_fixtures.py export-litert       # format='litert' (format='tflite' is an alias for it in 8.4)
    $VTF make_fixtures.py export-saved-model  # format='saved_model' (onnx2tf), float16 + int8 .tflite files
    $V   make_fixtures.py predict             # OUT/<stem>.predictions.json for every fixture
    $V   make_fixtures.py timing              # median predict ms per 640x360 frame (yolov8n saved_model float16)
    $V   make_fixtures.py stats               # box-count table used in README.md
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

# Keep Ultralytics quiet and offline, and keep its settings file out of $HOME. Must be set before importing it.
WORK = Path(os.environ.get("FIXTURE_WORK", "/work/ultra/work"))
OUT = Path(os.environ.get("FIXTURE_OUT", "/work/staging/ultralytics"))
os.environ.setdefault("YOLO_OFFLINE", "1")  # no online checks / GitHub asset downloads
os.environ.setdefault("YOLO_CONFIG_DIR", str(WORK / "ultralytics_config"))
os.environ.setdefault("YOLO_VERBOSE", "False")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SEED = 0
IMGSZ = 320
CONFS = (0.25, 0.01)
IOU = 0.7
MAX_DET = 300
MODELS = ("yolov8n", "yolo11n", "yolo26n")

# Fixture photos: scikit-image sample photos of varying aspect ratio and colour; grey ones converted to 3-channel BGR
# (that exact BGR array is what is saved as PNG and passed to Ultralytics).
PHOTOS = {
    "astronaut.png": ("astronaut", None),  # 512x512 colour
    "chelsea.png": ("chelsea", None),  # 300x451 colour (odd width)
    "coffee.png": ("coffee", None),  # 400x600 colour
    "rocket.png": ("rocket", None),  # 427x640 colour
    "rocket_portrait.png": ("rocket", (slice(None), slice(200, 440))),  # 427x240 colour crop, portrait
    "camera_grey.png": ("camera", None),  # 512x512 grey
    "coins_grey.png": ("coins", None),  # 303x384 grey
    "page_grey.png": ("page", None),  # 191x384 grey, wide, odd height
}
# Extra real images used only for BatchNorm statistics and INT8 calibration (never as test inputs).
# Natural photos only: high-texture images (grass, gravel, text...) dominate BN variances and flatten photos.
EXTRA = ("cat", "clock", "moon", "immunohistochemistry", "hubble_deep_field")
CLIP_FPS, CLIP_SECONDS, CLIP_W, CLIP_H = 10, 3, 640, 360


def seed_all(seed: int | None = None) -> None:
    """Seed Python, NumPy and torch RNGs."""
    seed = SEED if seed is None else seed
    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)


def skimage_bgr(name: str) -> np.ndarray:
    """Return a scikit-image sample image as uint8 3-channel BGR."""
    import skimage.data

    im = getattr(skimage.data, name)()
    if im.dtype == bool:
        im = im.astype(np.uint8) * 255
    if im.ndim == 2:
        return cv2.cvtColor(im, cv2.COLOR_GRAY2BGR)
    if im.shape[2] == 4:
        im = im[..., :3]
    return np.ascontiguousarray(im[..., ::-1])  # RGB -> BGR


def photo(name: str) -> np.ndarray:
    """Return fixture photo `name` (a PHOTOS key) as BGR uint8."""
    src, crop = PHOTOS[name]
    im = skimage_bgr(src)
    return np.ascontiguousarray(im[crop]) if crop else im


def random_crops(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random crops (area 20-100%, aspect 0.5-2) of all sample photos at random scales, with random h-flips."""
    srcs = [skimage_bgr(k) for k in dict.fromkeys(v[0] for v in PHOTOS.values() if v[0] != "page")]
    srcs += [skimage_bgr(k) for k in EXTRA]
    out = []
    for i in range(n):
        im = srcs[i % len(srcs)]
        h, w = im.shape[:2]
        area = rng.uniform(0.2, 1.0) * h * w
        ar = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
        ch, cw = int(min(h, np.sqrt(area / ar))), int(min(w, np.sqrt(area * ar)))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = im[y : y + ch, x : x + cw]
        s = rng.uniform(0.5, 1.5)
        crop = cv2.resize(crop, (max(8, int(cw * s)), max(8, int(ch * s))), interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop))
    return out


def md5(a: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(a).tobytes()).hexdigest()


# ----------------------------------------------------------------------------------------------------------- inputs
def make_clip(path: Path) -> None:
    """~3 s, 10 fps, 640x360 clip: slow zoom/pan over astronaut, then a pan over coffee (real photos)."""
    n = CLIP_FPS * CLIP_SECONDS
    frames = []
    for i in range(n):
        if i < n // 2:  # astronaut 512x512: zoom out from a 16:9 window on the face to nearly the full width
            im, t = skimage_bgr("astronaut"), i / (n // 2 - 1)
            cw = 240 + t * (512 - 240)
            cx, cy = 250 - t * (250 - 256), 150 + t * (256 - 150)
        else:  # coffee 400x600: pan left to right with a 16:9 window
            im, t = skimage_bgr("coffee"), (i - n // 2) / (n - n // 2 - 1)
            cw = 400
            cx, cy = 200 + t * (600 - 400), 220
        chh = cw * 9 / 16
        x0 = float(np.clip(cx - cw / 2, 0, im.shape[1] - cw))
        y0 = float(np.clip(cy - chh / 2, 0, im.shape[0] - chh))
        # sub-pixel crop + resize with an affine warp, so the motion is smooth
        m = np.array([[CLIP_W / cw, 0, -x0 * CLIP_W / cw], [0, CLIP_H / chh, -y0 * CLIP_H / chh]], np.float64)
        frames.append(cv2.warpAffine(im, m, (CLIP_W, CLIP_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    tmp = WORK / "clip_frames"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp / f"{i:03d}.png"), f)
    if shutil.which("ffmpeg"):  # small H.264 (bit-exact decoding across conformant decoders), yuv420p, no B-frames
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-framerate", str(CLIP_FPS), "-i", str(tmp / "%03d.png"),
                        "-c:v", "libx264", "-preset", "veryslow", "-crf", "23", "-pix_fmt", "yuv420p",
                        "-bf", "0", "-g", str(n), "-movflags", "+faststart", "-map_metadata", "-1",
                        "-fflags", "+bitexact", "-flags:v", "+bitexact", str(path)], check=True)
    else:
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, (CLIP_W, CLIP_H))
        for f in frames:
            w.write(f)
        w.release()


def read_clip(path: Path) -> list[np.ndarray]:
    """Decode every frame of the clip with cv2.VideoCapture (BGR uint8), as edgekit's tests do."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def cmd_inputs() -> None:
    seed_all()
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        cv2.imwrite(str(OUT / "images" / name), photo(name), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        assert np.array_equal(cv2.imread(str(OUT / "images" / name)), photo(name))
    make_clip(OUT / "clip.mp4")
    frames = read_clip(OUT / "clip.mp4")
    print(f"clip.mp4: {len(frames)} frames {frames[0].shape}, {(OUT / 'clip.mp4').stat().st_size} bytes")

    # INT8 calibration set: a tiny local YOLO dataset (random crops of the photos, empty label files = background).
    calib = WORK / "calib"
    shutil.rmtree(calib, ignore_errors=True)
    (calib / "images" / "val").mkdir(parents=True)
    (calib / "labels" / "val").mkdir(parents=True)
    for i, im in enumerate(random_crops(48, np.random.default_rng(SEED + 1))):
        cv2.imwrite(str(calib / "images" / "val" / f"calib_{i:03d}.png"), im)
        (calib / "labels" / "val" / f"calib_{i:03d}.txt").write_text("")
    from ultralytics.utils import ROOT, YAML

    names = YAML.load(ROOT / "cfg/datasets/coco.yaml")["names"]
    YAML.save(calib / "calib.yaml", {"path": str(calib), "train": "images/val", "val": "images/val", "names": names})


# ----------------------------------------------------------------------------------------------------------- models
def letterboxed_batch(ims: list[np.ndarray]):
    """Ultralytics-style preprocessing (LetterBox 320, pad 114, BGR->RGB, /255) into a float BCHW tensor."""
    import torch
    from ultralytics.data.augment import LetterBox

    lb = LetterBox(IMGSZ, auto=False, stride=32)
    x = np.stack([lb(image=im)[..., ::-1] for im in ims]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x)).float() / 255


def recalibrate_bn(model, n_images: int = 384, batch: int = 16) -> None:
    """Replace BatchNorm running stats with cumulative averages over real photos (train-mode forwards, no grad)."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over all batches
    crops = random_crops(n_images, np.random.default_rng(SEED + 2))
    model.train()
    with torch.no_grad():
        for i in range(0, n_images, batch):
            model(letterboxed_batch(crops[i : i + batch]))
    model.eval()
    for m in bns:
        m.momentum = 0.03  # back to Ultralytics' default BN momentum


def head_convs(head, kind: str) -> list:
    """Final Conv2d of every level of the detect head ('cls' logits or 'box' DFL/ltrb outputs), both branches of
    YOLO26's dual (one-to-many + one-to-one) head."""
    branches = ("cv3", "one2one_cv3") if kind == "cls" else ("cv2", "one2one_cv2")
    return [seq[-1] for b in branches if getattr(head, b, None) is not None for seq in getattr(head, b)]


def raw_conv_std(model, convs, ims) -> float:
    """Std of the weight term (output minus bias) of `convs` over images `ims` (median over images)."""
    import torch

    stds, outs = [], []
    hooks = [c.register_forward_hook(lambda m, i, o: outs.append((o - m.bias.view(1, -1, 1, 1)).flatten(1))) for c in convs]
    with torch.no_grad():
        for im in ims:
            outs.clear()
            model(letterboxed_batch([im]))
            stds.append(float(torch.cat(outs, 1).std()))
    for h in hooks:
        h.remove()
    return float(np.median(stds))


def count_boxes(yolo, ims: list[np.ndarray], conf: float) -> list[int]:
    yolo.predictor = None  # the predictor caches a fused copy of the model: rebuild it after every weight change
    # one image per call, as in the fixtures (a list is one batch, and NMS's time limit is per batch)
    return [len(yolo.predict(im, imgsz=IMGSZ, conf=conf, iou=IOU, max_det=MAX_DET, verbose=False)[0].boxes) for im in ims]


# Model-shaping constants (see make_model). Chosen once by hand; the class-bias centre/spread are searched.
BN_GAMMA = 4.0  # BN weight before recalibration: SiLU then works in its ReLU-like (scale-preserving) range
BOX_STD = {"yolov8n": 1.5, "yolo11n": 1.5, "yolo26n": 0.5}  # std of box-regression conv outputs (DFL logits / ltrb)


def make_model(stem: str):
    """Build an untrained model from Ultralytics' YAML and make its outputs image-dependent and realistic.

    1. All BatchNorm weights (gamma) := BN_GAMMA, then running stats recomputed as cumulative averages over
       letterboxed random crops of real photos (train-mode forwards, no grad, momentum=None). With gamma=1 the
       random net fades low-contrast photos out (per-image logit std varied 20x across the photos); gamma=4 keeps
       SiLU mostly in its near-linear range (5x).
    2. Final box conv weights rescaled so their output (DFL logits, or ltrb distances in stride units for
       YOLO26's reg_max=1 head, around Ultralytics' init bias 2.0) has std BOX_STD: varied but sane box sizes.
    3. Final class conv weights rescaled to unit output std (median photo); biases: see BIAS_DESIGN.
    """
    import torch
    from ultralytics import YOLO
    from ultralytics.utils import ROOT, YAML

    seed_all()
    yolo = YOLO(f"{stem}.yaml")  # untrained, built from the YAML shipped in the ultralytics wheel
    model = yolo.model
    model.names = dict(YAML.load(ROOT / "cfg/datasets/coco.yaml")["names"])  # COCO-80 names, like a real checkpoint
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data[:] = BN_GAMMA
    recalibrate_bn(model)
    head = model.model[-1]
    ims = [photo(k) for k in PHOTOS]
    for kind, target in (("box", BOX_STD[stem]), ("cls", 1.0)):
        convs = head_convs(head, kind)
        s = raw_conv_std(model, convs, ims)
        for c in convs:
            c.weight.data *= target / s
    return yolo


# Class-logit bias design per model: (hot, warm, cold). Detect-head levels 0/1/2 = P3/P4/P5 (stride 8/16/32).
#   hot  [(n, level)]: n classes whose logit on that level is centred on logit(0.25): ~half of those anchors pass
#                      conf=0.25 on ANY photo, whatever its contrast, so every photo gets boxes at conf=0.25.
#   warm [(n, level)]: n classes centred on logit(0.01): they add candidates at conf=0.01 only.
#   cold c:            every other (class, level): c-2..c+2 (spread over classes), i.e. only rare, high-contrast hits.
# Why not one bias of about -6 for everything: the random net's logit spread scales with image contrast (std over
# the photos varies ~3x even after BN recalibration), so any single threshold gives 0 boxes on soft photos (cat,
# rocket) and the max_det cap on high-contrast ones (astronaut, page). Centring a few (class, level) logits on
# the threshold makes the count at that threshold contrast-independent; NMS geometry then sets the final count.
# YOLO26's NMS-free head keeps every (anchor, class) pair above conf among its top-300, so it gets fewer hot classes.
BIAS_DESIGN = {
    "yolov8n": ([(4, 2), (1, 1)], [(8, 2)], -12.0),
    "yolo11n": ([(4, 2), (1, 1)], [(8, 2)], -12.0),
    "yolo26n": ([(2, 2)], [(2, 2)], -12.0),
}


def set_cls_bias(yolo, ims: list[np.ndarray]) -> dict:
    """Set per-(level, class) class-logit biases from BIAS_DESIGN, relative to each logit's mean over `ims`."""
    import torch

    stem = next(s for s in MODELS if s in str(yolo.model.yaml.get("yaml_file", "")))
    hot, warm, cold = BIAS_DESIGN[stem]
    model, head = yolo.model, yolo.model.model[-1]
    nc, nl = head.nc, head.nl
    order = np.random.default_rng(SEED + 3).permutation(nc)  # seeded class order for the tiers
    target = np.empty((nl, nc), np.float64)
    target[:] = np.linspace(cold - 2, cold + 2, nc)[np.argsort(order)]
    k, logit = 0, lambda p: float(np.log(p / (1 - p)))
    for tier, p in ((hot, 0.25), (warm, 0.01)):
        for n, level in tier:
            target[level, order[k : k + n]] = logit(p)
            k += n
    convs = head_convs(head, "cls")  # [P3, P4, P5] (+ [P3, P4, P5] of the one-to-one branch)
    sums = [torch.zeros(nc, dtype=torch.float64) for _ in convs]
    def hook(m, i, o, j):
        sums[j] += (o - m.bias.view(1, -1, 1, 1)).mean((0, 2, 3)).double()  # returns None: output unchanged

    hooks = [c.register_forward_hook(lambda m, i, o, j=j: hook(m, i, o, j)) for j, c in enumerate(convs)]
    with torch.no_grad():
        for im in ims:
            model(letterboxed_batch([im]))
    for h in hooks:
        h.remove()
    for j, c in enumerate(convs):
        c.bias.data[:] = torch.from_numpy(target[j % nl]) - sums[j] / len(ims)
    return {"hot": hot, "warm": warm, "cold": cold, "class_order": order.tolist()}


def cmd_models() -> None:
    from ultralytics import YOLO

    WORK.mkdir(parents=True, exist_ok=True)
    frames = read_clip(OUT / "clip.mp4")
    ims = [photo(k) for k in PHOTOS] + frames[:: max(1, len(frames) // 6)]  # photos + 6 clip frames
    rep_file = WORK / "models.json"
    report = json.loads(rep_file.read_text()) if rep_file.exists() else {}
    for stem in os.environ.get("FIXTURE_MODELS", ",".join(MODELS)).split(","):  # e.g. FIXTURE_MODELS=yolo26n
        yolo = make_model(stem)
        design = set_cls_bias(yolo, ims)
        yolo.save(WORK / f"{stem}.pt")  # the exact checkpoint every export below starts from
        re = YOLO(WORK / f"{stem}.pt")  # re-load (saved as FP16) and count boxes with Ultralytics predict
        report[stem] = {"seed": SEED, "bn_gamma": BN_GAMMA, "box_std": BOX_STD[stem], "bias_design": design,
                        "n_conf0.25": count_boxes(re, ims, 0.25), "n_conf0.01": count_boxes(re, ims, 0.01)}
        print(stem, {k: v for k, v in report[stem].items() if k != "bias_design"}, flush=True)
    rep_file.write_text(json.dumps(report, indent=1))


# ----------------------------------------------------------------------------------------------------------- exports
# Fixture file -> (model, route, precision, file the route writes). Renamed on copy so the route is visible and the
# two routes' *_int8.tflite files cannot collide. None of the names contains a suffix AutoBackend keys on besides
# '.tflite' (e.g. '_saved_model', '_edgetpu.tflite'), so Ultralytics loads every one with its LiteRT backend.
FIXTURES = {
    "yolov8n_litert_float32.tflite": ("yolov8n", "litert", "float32", "yolov8n.tflite"),
    "yolov8n_litert_int8.tflite": ("yolov8n", "litert", "int8", "yolov8n_int8.tflite"),
    "yolov8n_savedmodel_float16.tflite": ("yolov8n", "saved_model", "float16", "yolov8n_saved_model/yolov8n_float16.tflite"),
    "yolov8n_savedmodel_full_integer_quant.tflite": (
        "yolov8n", "saved_model", "int8", "yolov8n_saved_model/yolov8n_full_integer_quant.tflite"),
    "yolo11n_savedmodel_float16.tflite": ("yolo11n", "saved_model", "float16", "yolo11n_saved_model/yolo11n_float16.tflite"),
    "yolo26n_savedmodel_float16.tflite": ("yolo26n", "saved_model", "float16", "yolo26n_saved_model/yolo26n_float16.tflite"),
}


def export_dir(stem: str, route: str, tag: str = "") -> Path:
    """A fresh directory holding a copy of the .pt: each export writes its files beside the .pt it starts from."""
    d = WORK / "exports" / f"{stem}_{route}{tag}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    shutil.copy(WORK / f"{stem}.pt", d / f"{stem}.pt")
    return d


def cmd_export_litert() -> None:
    """format='litert' (litert-torch). 8.4 maps the deprecated format='tflite' to it. It offers FP32 (no FP16 file:
    LiteRT runs FP32 models in FP16 on GPU/XNNPACK at runtime) and quantize=8 (static int8 weights+activations,
    calibrated, float32 graph I/O), 'w8a16' and 'w8a32'."""
    from ultralytics import YOLO

    data = WORK / "calib" / "calib.yaml"
    for stem, quantize in (("yolov8n", None), ("yolov8n", 8)):
        d = export_dir(stem, "litert", "_int8" if quantize else "")
        kw = {"quantize": quantize, "data": str(data)} if quantize else {}
        f = YOLO(d / f"{stem}.pt").export(format="tflite", imgsz=IMGSZ, **kw)
        print("exported", f, flush=True)
        name = next(k for k, v in FIXTURES.items() if v[:3] == (stem, "litert", "int8" if quantize else "float32"))
        shutil.copy(f, OUT / name)


def cmd_export_saved_model() -> None:
    """format='saved_model' (ONNX -> onnx2tf). quantize=8 also writes *_float32/_float16 .tflite, plus *_int8
    (dynamic range), *_integer_quant (float I/O) and *_full_integer_quant (int8 I/O), calibrated on data=."""
    from ultralytics import YOLO

    data = WORK / "calib" / "calib.yaml"
    for stem, quantize in (("yolov8n", 8), ("yolo11n", None), ("yolo26n", None)):
        d = export_dir(stem, "saved_model")
        # onnx2tf's TFLite step wants this calibration sample in the CWD and Ultralytics would download it from
        # GitHub if missing; provide a locally made one of the same name/shape/range (20 RGB 128x128 crops, 0..1).
        crops = random_crops(20, np.random.default_rng(SEED + 4))
        sample = np.stack([cv2.resize(c, (128, 128), interpolation=cv2.INTER_AREA)[..., ::-1] for c in crops])
        np.save(d / "calibration_image_sample_data_20x128x128x3_float32.npy", sample.astype(np.float32) / 255)
        kw = {"quantize": 8, "data": str(data)} if quantize else {}
        if stem == "yolo26n":
            kw["nms"] = False  # 8.4: nms=None exports the one-to-many head for external NMS; False = NMS-free head
        cwd = os.getcwd()
        os.chdir(d)
        try:
            f = YOLO(d / f"{stem}.pt").export(format="saved_model", imgsz=IMGSZ, **kw)
        finally:
            os.chdir(cwd)
        print("exported", f, sorted(p.name for p in Path(f).glob("*.tflite")), flush=True)
        for name, (s, route, _, rel) in FIXTURES.items():
            if s == stem and route == "saved_model":
                shutil.copy(d / rel, OUT / name)


# ------------------------------------------------------------------------------------------------------ predictions
def letterbox_reference(im: np.ndarray) -> tuple[np.ndarray, dict]:
    """Independent re-implementation of what Ultralytics' predictor feeds the model (checked against it below):
    r = min(320/h, 320/w); new_unpad = (round(w*r), round(h*r)) (at least 1); cv2.resize INTER_LINEAR if the size
    changes; padding dw/2, dh/2 split as top/left = round(d/2 - 0.1), bottom/right = round(d/2 + 0.1), value 114."""
    h, w = im.shape[:2]
    r = min(IMGSZ / h, IMGSZ / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (IMGSZ - nw) / 2, (IMGSZ - nh) / 2
    top, bottom, left, right = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    out = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else im
    out = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return out, {"orig_hw": [h, w], "resized_wh": [nw, nh], "pad_top_bottom_left_right": [top, bottom, left, right]}


def raw_output(path: Path, im: np.ndarray) -> dict:
    """Run the .tflite directly (ai_edge_litert, no Ultralytics) on one letterboxed image; report the raw output."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = (letterbox_reference(im)[0][..., ::-1].astype(np.float32) / 255)[None]  # RGB 0..1, NHWC
    nhwc = inp["shape"][-1] == 3
    if not nhwc:
        x = x.transpose(0, 3, 1, 2)
    if inp["dtype"] in (np.int8, np.int16):
        s, z = inp["quantization"]
        # exactly like Ultralytics' LiteRTBackend: x/scale + zero_point, clip, astype (truncates toward 0, no rounding)
        x = np.clip(x / s + z, np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max)
    it.set_tensor(inp["index"], x.astype(inp["dtype"]))
    it.invoke()
    y = it.get_tensor(out["index"])
    yf = y.astype(np.float32)
    if out["dtype"] in (np.int8, np.int16):
        s, z = out["quantization"]
        yf = (yf - z) * s
    e2e = y.shape[-1] == 6
    boxes, scores = (yf[0, :, :4], yf[0, :, 4]) if e2e else (yf[0, :4], yf[0, 4:])
    return {
        "input": {"name": inp["name"], "shape": inp["shape"].tolist(), "dtype": np.dtype(inp["dtype"]).name,
                  "layout": "NHWC" if nhwc else "NCHW", "quantization": list(map(float, inp["quantization"]))},
        "output": {"name": out["name"], "shape": out["shape"].tolist(), "dtype": np.dtype(out["dtype"]).name,
                   "quantization": list(map(float, out["quantization"])),
                   "layout": "[1, max_det, x1 y1 x2 y2 score class]" if e2e else "[1, 4 + nc (cx cy w h, class scores), anchors]"},
        "raw_stats_on": "astronaut.png",
        "raw_min": float(y.min()), "raw_max": float(y.max()),
        "box_channels_min": float(boxes.min()), "box_channels_max": float(boxes.max()),
        "score_min": float(scores.min()), "score_max": float(scores.max()),
        "box_units": "normalized 0-1 (Ultralytics multiplies x,w by input w and y,h by input h)"
        if np.abs(boxes).max() < 20 else "pixels of the 320x320 model input",
    }


def ultra_predict(yolo, im: np.ndarray, conf: float) -> list[list[float]]:
    r = yolo.predict(source=im, imgsz=IMGSZ, conf=conf, iou=IOU, max_det=MAX_DET, verbose=False)[0]
    return rows(r.boxes.data)


def rows(d) -> list[list[float]]:
    d = d.cpu().numpy().astype(np.float64)  # x1 y1 x2 y2 conf cls, source-image pixels
    return [[round(float(v), 6) for v in row[:5]] + [int(row[5])] for row in d]


class DirectReference:
    """Ultralytics' own post-processing functions (utils.nms.non_max_suppression, utils.ops.scale_boxes) applied
    to the raw .tflite output, with box units taken as they really are. Same preprocessing (verified identical),
    same (de)quantization arithmetic as LiteRTBackend. Used for the onnx2tf-route files, whose pixel-unit boxes
    Ultralytics 8.4's LiteRTBackend multiplies by the input size again; checked equal to predict() on the
    normalized litert-route files."""

    def __init__(self, path: Path):
        import torchvision  # noqa: F401  (non_max_suppression uses torchvision.ops.nms when it is imported)
        from ai_edge_litert.interpreter import Interpreter

        from ultralytics.utils import NUM_THREADS

        self.it = Interpreter(str(path), num_threads=NUM_THREADS)
        self.it.allocate_tensors()
        self.inp, self.out = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.nhwc = self.inp["shape"][-1] == 3
        self.e2e = self.out["shape"][-1] == 6

    def __call__(self, im: np.ndarray, conf: float, pixel_boxes: bool) -> list[list[float]]:
        import torch

        from ultralytics.utils.nms import non_max_suppression
        from ultralytics.utils.ops import scale_boxes

        x = (letterbox_reference(im)[0][..., ::-1].astype(np.float32) / 255)[None]
        x = x if self.nhwc else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if self.inp["dtype"] in (np.int8, np.int16):
            s, z = self.inp["quantization"]
            lim = np.iinfo(self.inp["dtype"])
            x = (x / s + z).clip(lim.min, lim.max).astype(self.inp["dtype"])
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])
        if self.out["dtype"] in (np.int8, np.int16):
            s, z = self.out["quantization"]
            y = (y.astype(np.float32) - z) * s
        y = y.copy()
        if not pixel_boxes:  # normalized: denormalize exactly as LiteRTBackend does
            if self.e2e:
                y[:, :, [0, 2]] *= IMGSZ
                y[:, :, [1, 3]] *= IMGSZ
            else:
                y[:, [0, 2]] *= IMGSZ
                y[:, [1, 3]] *= IMGSZ
        p = non_max_suppression(torch.from_numpy(y), conf, IOU, None, False, max_det=MAX_DET, nc=0, end2end=self.e2e)[0]
        p[:, :4] = scale_boxes((IMGSZ, IMGSZ), p[:, :4], im.shape)
        return rows(p)


def cmd_predict() -> None:
    import zipfile

    import ultralytics
    from ultralytics import YOLO

    photos = {k: cv2.imread(str(OUT / "images" / k)) for k in PHOTOS}  # BGR, exactly as saved
    frames = read_clip(OUT / "clip.mp4")
    pre = {}
    for name, im in [*photos.items(), *((f"clip.mp4#{i}", f) for i, f in enumerate(frames[:1]))]:
        pre[name] = letterbox_reference(im)[1]
    only = os.environ.get("FIXTURE_FILES")  # optional comma-separated subset of FIXTURES
    for fname, (stem, route, precision, _) in FIXTURES.items():
        if only and fname not in only.split(","):
            continue
        path = OUT / fname
        if not path.exists():
            print("missing", fname)
            continue
        yolo = YOLO(str(path), task="detect")
        # the preprocessed tensor Ultralytics really feeds the model must equal the reference letterbox (checked)
        yolo.predict(source=photos["chelsea.png"], imgsz=IMGSZ, verbose=False)
        for name, im in [*photos.items(), ("clip.mp4#0", frames[0])]:
            t = yolo.predictor.preprocess([im]).numpy()[0].transpose(1, 2, 0)  # RGB 0..1 HWC
            ref = letterbox_reference(im)[0][..., ::-1].astype(np.float32) / 255
            assert t.shape == ref.shape and np.array_equal(t, ref), (fname, name)
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else None
        res = {"ultralytics_version": ultralytics.__version__, "fixture": fname, "model": stem, "route": route,
               "precision": precision, "imgsz": IMGSZ, "iou": IOU, "max_det": MAX_DET,
               "predict_call": "YOLO(fixture, task='detect').predict(source=bgr_uint8_array, imgsz=320, conf=C, "
                               "iou=0.7, max_det=300, verbose=False), one image per call",
               "metadata_json_attached": meta is not None,
               "metadata_end2end": None if meta is None else meta.get("end2end"),
               "model_io": raw_output(path, photos["astronaut.png"]),
               "preprocess": {"verified_equal_to_ultralytics": True, "pad_value": 114, "interpolation": "cv2.INTER_LINEAR",
                              "color": "BGR->RGB, /255, float32", "per_image": pre},
               "clip": {"file": "clip.mp4", "decoder": f"cv2.VideoCapture (opencv {cv2.__version__})",
                        "frames": len(frames), "frame_shape": list(frames[0].shape),
                        "frame_md5": [md5(f) for f in frames]},
               "box_format": "[x1, y1, x2, y2, conf, cls], source-image pixels, Results.boxes.data order",
               "orig_shape": {**{k: list(v.shape[:2]) for k, v in photos.items()}, "clip.mp4": list(frames[0].shape[:2])},
               "conf": {}}
        for conf in CONFS:
            res["conf"][str(conf)] = {
                "images": {k: ultra_predict(yolo, im, conf) for k, im in photos.items()},
                "clip.mp4": [ultra_predict(yolo, f, conf) for f in frames],
            }
        ref = DirectReference(path)
        pixel = res["model_io"]["box_units"].startswith("pixels")
        if not pixel:  # validate the direct path: it must reproduce predict() exactly on normalized-output files
            for conf in CONFS:
                for k in list(photos)[:4]:
                    assert ref(photos[k], conf, False) == res["conf"][str(conf)]["images"][k], (fname, conf, k)
            res["direct_reference_check"] = "non_max_suppression+scale_boxes on the raw output == predict() (4 photos x 2 conf)"
        else:
            res["WARNING"] = (
                "This onnx2tf-route file outputs boxes in PIXELS of the 320x320 input, but Ultralytics 8.4's "
                "LiteRTBackend.forward multiplies every .tflite output's x,w by the input width and y,h by the height "
                "(it assumes litert-torch's normalized boxes), so 'conf' (Ultralytics' real predict output) holds "
                "boxes scaled x320 then clipped to the image. 'conf_pixel_units' is the correct decode: Ultralytics' "
                "own non_max_suppression + scale_boxes on the raw output without that extra scaling.")
            res["conf_pixel_units"] = {
                str(conf): {"images": {k: ref(im, conf, True) for k, im in photos.items()},
                            "clip.mp4": [ref(f, conf, True) for f in frames]} for conf in CONFS}
        (OUT / f"{Path(fname).stem}.predictions.json").write_text(json.dumps(res, separators=(",", ":")))
        c = {k: [len(v) for v in d["images"].values()] + [len(v) for v in d["clip.mp4"]] for k, d in res["conf"].items()}
        print(fname, {k: (min(v), int(np.median(v)), max(v)) for k, v in c.items()}, res["model_io"]["output"]["shape"],
              res["model_io"]["box_channels_max"], flush=True)


def cmd_timing() -> None:
    import time

    from ultralytics import YOLO

    frames = read_clip(OUT / "clip.mp4")
    yolo = YOLO(str(OUT / "yolov8n_savedmodel_float16.tflite"), task="detect")
    kw = dict(imgsz=IMGSZ, conf=0.25, iou=IOU, max_det=MAX_DET, verbose=False)
    for f in frames[:10]:  # warm-up (first call builds the predictor and interpreter)
        yolo.predict(source=f, **kw)
    ts = []
    for i in range(100):
        t = time.perf_counter()
        yolo.predict(source=frames[i % len(frames)], **kw)
        ts.append((time.perf_counter() - t) * 1000)
    from ultralytics.utils import NUM_THREADS

    print(json.dumps({"median_ms": round(float(np.median(ts)), 2), "p10_ms": round(float(np.percentile(ts, 10)), 2),
                      "p90_ms": round(float(np.percentile(ts, 90)), 2), "runs": 100,
                      "interpreter_threads(NUM_THREADS)": NUM_THREADS, "cpu_count": os.cpu_count()}))


def cmd_stats() -> None:
    for fname in FIXTURES:
        p = OUT / f"{Path(fname).stem}.predictions.json"
        if not p.exists():
            continue
        d = json.loads(p.read_text())
        for key in ("conf", "conf_pixel_units"):
            if key not in d:
                continue
            row = [fname, key]
            for conf, v in d[key].items():
                im = [len(b) for b in v["images"].values()]
                cl = [len(b) for b in v["clip.mp4"]]
                row.append(f"{conf}: photos {min(im)}/{int(np.median(im))}/{max(im)}, clip {min(cl)}/{int(np.median(cl))}/{max(cl)}")
            print(" | ".join(row))


COMMANDS = {"inputs": cmd_inputs, "models": cmd_models, "export-litert": cmd_export_litert,
            "export-saved-model": cmd_export_saved_model, "predict": cmd_predict, "timing": cmd_timing,
            "stats": cmd_stats}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(COMMANDS)}}}")
    COMMANDS[sys.argv[1]]()
