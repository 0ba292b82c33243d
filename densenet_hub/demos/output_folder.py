"""The demo's output folder: refused when it holds other things, and on
request cleared of an earlier demo's outputs only."""

import pathlib
import shutil


def prepare_demo_folder(out, overwrite, outputs):
    """Creates the demo folder `out`; with `overwrite`, first removes the
    `outputs` (names inside `out`) of an earlier demo, and nothing else.

    Args:
        out: the demo's output folder.
        overwrite: replace an earlier demo's outputs in a non-empty `out`.
        outputs: the names a demo writes inside `out`.

    Raises:
        FileExistsError: `out` is a file, or a non-empty folder without
            `overwrite`.

    Example:
    ```python
    import pathlib, tempfile
    from densenet_hub.demos import prepare_demo_folder

    out = pathlib.Path(tempfile.mkdtemp())
    (out / "digits").mkdir()
    (out / "notes.txt").write_text("mine")
    prepare_demo_folder(out, overwrite=True, outputs=("digits",))
    assert [path.name for path in out.iterdir()] == ["notes.txt"]
    ```
    """
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {str(out)!r} is a file; pass a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"the demo folder {str(out)!r} is not empty; pass --overwrite "
                "to replace an earlier demo's outputs, or choose another --out."
            )
        for name in outputs:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
