"""Safe reading of PyTorch checkpoints (`.pth`, `.pt`, `.bin`, `.safetensors`)
into `{name: numpy array}` dictionaries.

`.pth` files are pickles. They are only ever opened with
`torch.load(weights_only=True)`, whose unpickler builds tensors and plain
containers and refuses every other global, so a hostile file runs nothing.
There is deliberately no fallback to a full unpickle. `.safetensors` files
hold no code at all and are read with the `safetensors` package's numpy API,
so they need no torch install.
"""

import _compat_pickle
import os
import pickle
import pickletools
import zipfile

import ml_dtypes
import numpy as np

SAFETENSORS_SUFFIXES = (".safetensors",)
# `.tar`: research code often names `torch.save` output `*.pth.tar` (CheXNet's
# checkpoint among them); it is the same zip checkpoint (or, before torch 1.6,
# torch's legacy format), which `torch.load` reads whatever the name.
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")
CHECKPOINT_SUFFIXES = ", ".join(PICKLE_SUFFIXES + SAFETENSORS_SUFFIXES)
# Keys under which training scripts nest the model's state dict, in the order
# they are tried (e.g. CheXNet saves {"epoch", "arch", "state_dict", ...}).
NESTED_STATE_DICT_KEYS = ("state_dict", "model")


def load_torch_state_dict(path):
    """Read a PyTorch state dict from `.pth`/`.pt`/`.bin`/`.ckpt`/`.tar` or `.safetensors`.

    Pickled checkpoints are opened with `torch.load(weights_only=True)` only:
    one that needs any other global (a `__reduce__` payload, a pickled
    module) is refused with the globals it asked for, and nothing in it runs.
    A checkpoint that wraps the weights in `{"state_dict": ...}` or
    `{"model": ...}` is unwrapped.

    Args:
        path: path of the checkpoint file.

    Returns:
        dict mapping each tensor name to a numpy array. Floating tensors
        become float32, the dtype the converted model is built in (bfloat16
        and float16 widen losslessly); other tensors such as
        `num_batches_tracked` keep their dtype.

    Example:
    ```python
    import tempfile, pathlib
    import numpy as np
    from safetensors.numpy import save_file
    from densenet_hub.convert import load_torch_state_dict

    path = pathlib.Path(tempfile.mkdtemp()) / "tiny.safetensors"
    save_file({"features.conv0.weight": np.ones((8, 3, 7, 7), "f4")}, str(path))
    tensors = load_torch_state_dict(path)
    assert tensors["features.conv0.weight"].shape == (8, 3, 7, 7)
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"Checkpoint {path!r} does not exist or is not a file. Pass the "
            f"path of a {CHECKPOINT_SUFFIXES} file."
        )
    if path.endswith(SAFETENSORS_SUFFIXES):
        return _load_safetensors(path)
    if path.endswith(PICKLE_SUFFIXES):
        return _load_pickle_checkpoint(path)
    raise ValueError(
        f"Checkpoint {path!r} has an unknown extension: expected one of "
        f"{CHECKPOINT_SUFFIXES}. Rename the file if it is a PyTorch checkpoint."
    )


def _load_safetensors(path):
    try:
        from safetensors import safe_open
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs the `safetensors` package: "
            f"pip install safetensors"
        ) from error
    try:
        with safe_open(path, framework="numpy") as reader:
            return {
                key: _float_as_float32(reader.get_tensor(key)) for key in reader.keys()
            }
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(
            f"{path!r} is not a readable .safetensors file: {error}. Check that "
            f"the download is complete, or re-export it with safetensors."
        ) from None


def _load_pickle_checkpoint(path):
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs torch (pickled checkpoints are opened with "
            f"torch.load(weights_only=True)): pip install torch, or convert the "
            f"file to .safetensors, which needs no torch."
        ) from error
    try:
        # weights_only passed explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
        # can only override a call that leaves it unset.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"Refused to load {path!r}: it needs the pickle global(s) "
            f"{', '.join(_unsafe_globals(torch, path))}, which "
            f"torch.load(weights_only=True) does not allow because they can run "
            f"code. Nothing from the file was executed. If you trust the file, "
            f"re-save just its tensors (torch.save(model.state_dict(), ...)) or "
            f"convert it to .safetensors."
        ) from None
    except Exception as error:  # corrupt files raise RuntimeError, EOFError, ...
        raise ValueError(
            f"{path!r} is not a readable PyTorch checkpoint: {error}"
        ) from None
    state_dict = _unwrap_state_dict(path, checkpoint, torch.Tensor)
    return {key: _tensor_to_numpy(path, key, value) for key, value in state_dict.items()}


def _unsafe_globals(torch, path):
    """Names of the globals that made the weights-only unpickler refuse `path`."""
    if zipfile.is_zipfile(path):
        # torch's static scan of data.pkl against its allowlist names the
        # refused globals as spelled; our own scan of the same pickle gives
        # each its Python 3 name. Nothing is executed.
        try:
            refused = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except (ValueError, RuntimeError):  # e.g. a TorchScript archive
            refused = set()
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
            found = {}
            for name in pickles:
                with archive.open(name) as stream:
                    found.update(pickle_globals(stream))
        names = [
            shown
            for (spelled, imported), shown in found.items()
            if spelled in refused or imported in refused
        ] or sorted(refused)
    else:
        # Legacy and raw pickles: every global they import (torch has no
        # scanner for these); the refused ones are among them.
        with open(path, "rb") as file:
            names = pickle_globals(file).values()
    return sorted(set(names)) or ["<none found: see the pickle's opcodes>"]


def pickle_globals(stream):
    """Every global imported by the pickles in `stream`.

    Found by disassembly with `pickletools`, which executes nothing. Scans
    consecutive pickles (legacy torch files hold several) until the data
    stops being a pickle. `STACK_GLOBAL` takes its names from the two
    latest pushes, followed through the memo.

    Returns:
        dict `(spelled, imported) -> shown`: `spelled` is `module.name` as
        the file writes it, `imported` the name Python 3 would import (a
        protocol 0-2 pickle spells some modules the Python 2 way, e.g.
        `commands.call` for `subprocess.call`, and is unpickled with
        `_compat_pickle`'s mapping), and `shown` the imported name, followed
        by the spelling when the two differ.
    """
    found = {}
    while True:
        pushes, memo, protocol = [], {}, 0
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                if opcode.name == "PROTO":
                    protocol = arg
                elif opcode.name == "GLOBAL":
                    found.update([_global_name(protocol, *arg.split(" ", 1))])
                elif opcode.name == "STACK_GLOBAL" and len(pushes) >= 2:
                    found.update([_global_name(protocol, str(pushes[-2]), str(pushes[-1]))])
                elif opcode.name == "MEMOIZE":
                    memo[len(memo)] = pushes[-1] if pushes else None
                elif opcode.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[arg] = pushes[-1] if pushes else None
                elif opcode.name in ("GET", "BINGET", "LONG_BINGET"):
                    pushes.append(memo.get(arg))
                elif opcode.stack_after:
                    pushes.append(arg if isinstance(arg, str) else None)
        except ValueError:
            return found  # past the last pickle: raw tensor bytes or the end


def _global_name(protocol, module, name):
    """`((spelled, imported), shown)` for one global, as `pickle_globals` returns."""
    spelled = f"{module}.{name}"
    if protocol < 3:
        # What pickle.Unpickler(fix_imports=True) imports for such a pickle.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    imported = f"{module}.{name}"
    shown = imported if imported == spelled else f"{imported} (written {spelled} in the file)"
    return (spelled, imported), shown


def _unwrap_state_dict(path, checkpoint, tensor_type):
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"{path!r} holds a {type(checkpoint).__name__}, expected a state "
            f"dict (a dict of tensor name -> tensor). Save it with "
            f"torch.save(model.state_dict(), path)."
        )
    if not _is_flat_state_dict(checkpoint, tensor_type):
        for key in NESTED_STATE_DICT_KEYS:
            if isinstance(checkpoint.get(key), dict):
                return _unwrap_state_dict(path, checkpoint[key], tensor_type)
    if not checkpoint or not _is_flat_state_dict(checkpoint, tensor_type):
        raise ValueError(
            f"{path!r} is not a state dict: expected a dict of tensor name -> "
            f"tensor (optionally under {' or '.join(NESTED_STATE_DICT_KEYS)}), "
            f"got top-level keys {sorted(map(str, checkpoint))[:10]}."
        )
    return checkpoint


def _is_flat_state_dict(mapping, tensor_type):
    return all(
        isinstance(key, str) and isinstance(value, tensor_type)
        for key, value in mapping.items()
    )


def _tensor_to_numpy(path, key, tensor):
    if tensor.is_floating_point():
        # numpy has no bfloat16; float32 holds every float16/bfloat16 value.
        return tensor.detach().to("cpu").float().numpy()
    if tensor.is_complex():
        raise ValueError(
            f"{path!r}: tensor {key!r} is {tensor.dtype}, expected a real dtype."
        )
    return tensor.detach().to("cpu").numpy()


def _float_as_float32(array):
    # numpy knows bfloat16 only through ml_dtypes (a Keras dependency), which
    # gives it kind "V".
    if array.dtype.kind == "f" or array.dtype == ml_dtypes.bfloat16:
        return array.astype(np.float32, copy=False)
    return array
