"""Writes the golden conversion fixtures in tests/fixtures/golden/.

Each fixture is a small random DenseNet built by the real torchvision or timm,
with randomised BatchNorm statistics and affine parameters, saved as a state
dict, plus the model's eval-mode outputs on fixed inputs. The tests convert
the saved files and compare outputs without needing torchvision or timm.

The photo fixture (`--only photos`) runs photos shipped inside matplotlib
and scikit-learn, found in the project's `.venv` (`--site-packages`), through
the real torchvision and timm eval transforms and the two small models
above; the tests then check the converter's pixels and the converted
models' logits against it.

Run it in a separate environment, never the project's:

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm safetensors numpy
    /tmp/tvenv/bin/python tools/make_golden_fixtures.py            # everything
    /tmp/tvenv/bin/python tools/make_golden_fixtures.py --only photos
"""

import argparse
import hashlib
import io
import json
import pathlib
import re

import numpy as np
import PIL.Image
import safetensors.torch
import timm
import timm.data
import torch
import torchvision
from torchvision.models.densenet import DenseNet

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures" / "golden"
SEED = 20240607
NUM_CLASSES = 5
LOGIT_SCALE = 20.0
# An even size (where "same" and symmetric stem padding differ) and an odd,
# non-square one.
INPUT_SHAPES = {"inputs_even": (4, 3, 32, 32), "inputs_odd": (2, 3, 29, 37)}
# Eval transforms on a small image: resize the shorter side to 32, crop 28
# (crop fraction 0.875, as torchvision's 256 -> 224 and timm's crop_pct).
TRANSFORM_CROP = 28
TRANSFORM_RESIZE = 32
# Photos shipped in packages the test environment installs: name -> (package,
# path inside it, derivation). "grey" is the photo converted to greyscale and
# saved as PNG, which the test derives the same way.
PHOTOS = {
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", None),
    "logo2": ("matplotlib", "mpl-data/sample_data/logo2.png", None),
    "minduka": ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png", None),
    "home_icon": ("matplotlib", "mpl-data/images/home_large.png", None),
    "china": ("sklearn", "datasets/images/china.jpg", None),
    "flower": ("sklearn", "datasets/images/flower.jpg", None),
    "china_grey": ("sklearn", "datasets/images/china.jpg", "grey"),
}
# Photos whose whole 224x224 crops are stored, so that a failure shows where
# the pixels differ; the others are checked by digest.
FULL_CROPS = ("grace_hopper",)


def randomise_batch_norm(model, inputs, generator):
    """Realistic BatchNorm statistics: measured on the inputs, then perturbed.

    Measuring first keeps activations at a sensible scale through every
    layer; the perturbation makes the statistics differ from any batch's.
    """
    batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in batch_norms:
            bn.weight.uniform_(0.5, 1.5, generator=generator)
            bn.bias.normal_(0.0, 0.2, generator=generator)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration pass
        model.train()
        model(inputs)
        for bn in batch_norms:
            shift = torch.randn(bn.running_mean.shape, generator=generator)
            bn.running_mean.add_(shift * 0.1)
            factor = torch.empty(bn.running_var.shape)
            bn.running_var.mul_(factor.uniform_(0.5, 2.0, generator=generator))
            bn.momentum = 0.1
    model.eval()


def enlarge_head(linear, factor):
    """Scale a freshly initialised head so logits reach the size of a trained
    ImageNet model's (several units); the 1e-4 comparison is then stricter
    relative to them, and top-1 ties are unlikely."""
    with torch.no_grad():
        linear.weight.mul_(factor)
        linear.bias.normal_(0.0, 1.0)


def outputs(model, inputs):
    with torch.no_grad():
        return {name: model(torch.from_numpy(x)).numpy() for name, x in inputs.items()}


def make_inputs(generator):
    return {
        name: torch.randn(shape, generator=generator).numpy()
        for name, shape in INPUT_SHAPES.items()
    }


def calibration_batch(inputs):
    return torch.from_numpy(inputs["inputs_even"])


def legacy_key(key):
    """torchvision's pre-0.4 names: `denselayer1.norm1` was `denselayer1.norm.1`."""
    return re.sub(r"(\.denselayer\d+\.)(norm|relu|conv)([12])\.", r"\1\2.\3.", key)


class CheXNetStyle(torch.nn.Module):
    """A fine-tuned model as CheXNet saves it: torchvision's DenseNet under
    `densenet121`, a Sequential(Linear, Sigmoid) head, then DataParallel."""

    def __init__(self, **densenet_kwargs):
        super().__init__()
        self.densenet121 = DenseNet(**densenet_kwargs)
        features = self.densenet121.classifier.in_features
        self.densenet121.classifier = torch.nn.Sequential(
            torch.nn.Linear(features, NUM_CLASSES), torch.nn.Sigmoid()
        )

    def forward(self, x):
        return self.densenet121(x)


def save_outputs(name, model_outputs):
    renamed = {
        key.replace("inputs_", "outputs_"): value for key, value in model_outputs.items()
    }
    np.savez_compressed(OUT_DIR / f"{name}_outputs.npz", **renamed)


def manifest_entry(files, built_with, kwargs, stem_filters, outputs):
    """What the tests check a conversion of `files` against."""
    return {
        "files": files,
        "built_with": built_with,
        "stackwise_num_repeats": list(kwargs["block_config"]),
        "growth_rate": kwargs["growth_rate"],
        "stem_filters": stem_filters,
        "num_classes": NUM_CLASSES,
        "outputs": outputs,
    }


def torchvision_fixture(inputs, generator, manifest):
    kwargs = {
        "growth_rate": 4,
        "block_config": (2, 3, 2),
        "num_init_features": 12,
        "num_classes": NUM_CLASSES,
    }
    model = DenseNet(**kwargs)
    randomise_batch_norm(model, calibration_batch(inputs), generator)
    enlarge_head(model.classifier, LOGIT_SCALE)
    state_dict = model.state_dict()
    torch.save(state_dict, OUT_DIR / "torchvision_densenet.pth")
    safetensors.torch.save_file(state_dict, OUT_DIR / "torchvision_densenet.safetensors")
    save_outputs("torchvision_densenet", outputs(model, inputs))
    manifest["torchvision_densenet"] = manifest_entry(
        ["torchvision_densenet.pth", "torchvision_densenet.safetensors"],
        f"torchvision.models.densenet.DenseNet(**{kwargs})",
        kwargs,
        kwargs["num_init_features"],
        "logits",
    )


def chexnet_fixture(inputs, generator, manifest):
    # timm's fixture architecture: the tests then compile its shapes once.
    kwargs = {"growth_rate": 4, "block_config": (2, 2), "num_init_features": 8}
    model = torch.nn.DataParallel(CheXNetStyle(**kwargs))
    randomise_batch_norm(model, calibration_batch(inputs), generator)
    # Moderate logits: sigmoid saturates on large ones and would hide errors.
    enlarge_head(model.module.densenet121.classifier[0], LOGIT_SCALE / 10)
    # Old checkpoints predate `num_batches_tracked` and use legacy layer names,
    # and the old (non-zip) serialization.
    state_dict = {
        legacy_key(key): value
        for key, value in model.state_dict().items()
        if not key.endswith("num_batches_tracked")
    }
    checkpoint = {"epoch": 3, "arch": "densenet121", "state_dict": state_dict}
    torch.save(
        checkpoint,
        OUT_DIR / "chexnet_style_legacy.pth",
        _use_new_zipfile_serialization=False,
    )
    save_outputs("chexnet_style_legacy", outputs(model, inputs))
    manifest["chexnet_style_legacy"] = manifest_entry(
        ["chexnet_style_legacy.pth"],
        f"DataParallel(CheXNetStyle(**{kwargs})), legacy keys, nested under "
        f"'state_dict'",
        kwargs,
        kwargs["num_init_features"],
        "sigmoid probabilities",
    )


def timm_fixture(inputs, generator, manifest):
    kwargs = {"growth_rate": 4, "block_config": (2, 2), "num_classes": NUM_CLASSES}
    # densenet121's factory with tiny arguments: the model carries
    # densenet121's default pretrained config (ra_in1k: crop_pct 0.875,
    # bicubic, a test size of 288 that conversion must not pick).
    model = timm.create_model("densenet121", pretrained=False, **kwargs)
    randomise_batch_norm(model, calibration_batch(inputs), generator)
    enlarge_head(model.classifier, LOGIT_SCALE)
    timm.models.save_for_hf(model, OUT_DIR / "timm_densenet121", safe_serialization=True)
    save_outputs("timm_densenet121", outputs(model, inputs))
    manifest["timm_densenet121"] = manifest_entry(
        ["timm_densenet121/config.json", "timm_densenet121/model.safetensors"],
        f"timm.create_model('densenet121', **{kwargs}) + timm.models.save_for_hf",
        kwargs,
        2 * kwargs["growth_rate"],  # timm derives the stem width
        "logits",
    )


def transform_fixture(generator, manifest):
    # A smooth image (random colours on a coarse grid, upsampled), so that
    # resampling methods agree up to their filters rather than amplifying
    # pixel noise.
    coarse = torch.randint(0, 256, (6, 5, 3), dtype=torch.uint8, generator=generator)
    pil_image = PIL.Image.fromarray(coarse.numpy()).resize((38, 45), PIL.Image.BICUBIC)
    image = np.asarray(pil_image)
    torchvision_eval = torchvision.transforms.Compose([
        torchvision.transforms.Resize(
            TRANSFORM_RESIZE,
            interpolation=torchvision.transforms.InterpolationMode.BILINEAR,
        ),
        torchvision.transforms.CenterCrop(TRANSFORM_CROP),
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])
    timm_model = timm.create_model("densenet121", pretrained=False)
    timm_config = timm.data.resolve_data_config({}, model=timm_model)
    timm_config["input_size"] = (3, TRANSFORM_CROP, TRANSFORM_CROP)
    timm_eval = timm.data.create_transform(**timm_config)
    np.savez_compressed(
        OUT_DIR / "eval_transforms.npz",
        image=image,
        torchvision=torchvision_eval(pil_image).numpy(),
        timm=timm_eval(pil_image).numpy(),
    )
    manifest["eval_transforms"] = {
        "files": ["eval_transforms.npz"],
        "torchvision": str(torchvision_eval),
        "timm": str(timm_eval),
    }


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def photo_as_loaded(path, derivation):
    """The PIL image torchvision's and timm's default loader would give for
    the photo's file: `Image.open(file).convert("RGB")`."""
    image = PIL.Image.open(path)
    if derivation == "grey":
        # The test writes this greyscale PNG and reads it back.
        buffer = io.BytesIO()
        image.convert("L").save(buffer, format="PNG")
        image = PIL.Image.open(io.BytesIO(buffer.getvalue()))
    return image.convert("RGB")


def torch_normalised(crop, mean, std):
    """The digest of `Normalize(ToTensor(crop))` recomputed with NumPy in
    float32, which the test can repeat; checked against torch below."""
    pixels = np.transpose(crop, (2, 0, 1)).astype("float32") / np.float32(255)
    mean = np.asarray(mean, "float32")[:, None, None]
    std = np.asarray(std, "float32")[:, None, None]
    return ((pixels - mean) / std).astype("float32")


def photos_fixture(site_packages, manifest):
    torchvision_eval = torchvision.models.DenseNet121_Weights.IMAGENET1K_V1.transforms()
    torchvision_kwargs = {
        "growth_rate": 4,
        "block_config": (2, 3, 2),
        "num_init_features": 12,
        "num_classes": NUM_CLASSES,
    }
    torchvision_model = DenseNet(**torchvision_kwargs)
    torchvision_model.load_state_dict(torch.load(OUT_DIR / "torchvision_densenet.pth"))
    torchvision_model.eval()
    timm_model = timm.create_model(
        "densenet121", pretrained=False, growth_rate=4, block_config=(2, 2),
        num_classes=NUM_CLASSES,
    )
    timm_model.load_state_dict(
        safetensors.torch.load_file(OUT_DIR / "timm_densenet121" / "model.safetensors")
    )
    timm_model.eval()
    timm_eval = timm.data.create_transform(
        **timm.data.resolve_data_config({}, model=timm_model)
    )
    pipelines = {
        "torchvision": (torchvision_eval, torchvision_model, torchvision_eval.mean, torchvision_eval.std),
        "timm": (timm_eval, timm_model, timm_eval.transforms[-1].mean.tolist(), timm_eval.transforms[-1].std.tolist()),
    }
    arrays, entries = {}, {}
    logits = {name: [] for name in pipelines}
    for photo, (package, relative, derivation) in PHOTOS.items():
        path = pathlib.Path(site_packages) / package / relative
        image = photo_as_loaded(path, derivation)
        entry = {
            "package": package,
            "path": relative,
            "derivation": derivation,
            "file_sha256": sha256(path.read_bytes()),
            "decoded_sha256": sha256(np.ascontiguousarray(np.asarray(image)).tobytes()),
            "size": list(image.size),
        }
        for name, (transform, model, mean, std) in pipelines.items():
            tensor = transform(image)
            crop = np.round((tensor.numpy() * np.asarray(std)[:, None, None]
                             + np.asarray(mean)[:, None, None]) * 255)
            crop = np.transpose(crop, (1, 2, 0)).astype("uint8")
            recomputed = torch_normalised(crop, mean, std)
            # The crop is exactly what the transform normalised, and the
            # test's NumPy normalisation reproduces torch's bits.
            assert np.array_equal(recomputed, tensor.numpy()), (photo, name)
            entry[f"{name}_crop_sha256"] = sha256(crop.tobytes())
            entry[f"{name}_tensor_sha256"] = sha256(tensor.numpy().tobytes())
            if photo in FULL_CROPS:
                arrays[f"{name}_crop_{photo}"] = crop
            with torch.no_grad():
                logits[name].append(model(tensor[None]).numpy()[0])
        entries[photo] = entry
    for name, values in logits.items():
        arrays[f"{name}_logits"] = np.stack(values).astype("float32")
    np.savez_compressed(OUT_DIR / "photos.npz", **arrays)
    manifest["photos"] = {
        "files": ["photos.npz"],
        "photos": entries,
        "order": list(PHOTOS),
        "torchvision": str(torchvision_eval),
        "timm": str(timm_eval),
        "pillow": PIL.__version__,
        "models": (
            "torchvision_logits / timm_logits: torchvision_densenet.pth and "
            "timm_densenet121 on each photo's transform, rows in `order`"
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("all", "photos"), default="all")
    parser.add_argument(
        "--site-packages",
        default=next((ROOT / ".venv" / "lib").glob("python*/site-packages"), None),
        help="where matplotlib and scikit-learn are installed (the photos)",
    )
    args = parser.parse_args()
    if args.only == "photos":
        manifest = json.loads((OUT_DIR / "manifest.json").read_text())
        photos_fixture(args.site_packages, manifest)
        manifest["versions"]["pillow"] = PIL.__version__
        (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    manifest = {
        "generated_by": "tools/make_golden_fixtures.py",
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "timm": timm.__version__,
            "pillow": PIL.__version__,
        },
        "inputs": (
            "inputs.npz: NCHW float32; NAME_outputs.npz holds outputs_X, the "
            "eval-mode outputs on inputs_X"
        ),
        "eval_transforms": (
            "eval_transforms.npz: `image` (HWC uint8) and its torchvision and "
            "timm eval transforms (CHW float32)"
        ),
    }
    inputs = make_inputs(generator)
    np.savez_compressed(OUT_DIR / "inputs.npz", **inputs)
    torchvision_fixture(inputs, generator, manifest)
    chexnet_fixture(inputs, generator, manifest)
    timm_fixture(inputs, generator, manifest)
    transform_fixture(generator, manifest)
    photos_fixture(args.site_packages, manifest)
    (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
