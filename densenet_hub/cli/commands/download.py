"""`densenet-hub download PRESET OUT`: a preset fetched on a connected
machine into a folder that loads anywhere without network."""


def register(subparsers):
    """Adds the `download` command to `subparsers`."""
    parser = subparsers.add_parser(
        "download",
        help="fetch a preset into a folder for machines without network",
        description="Downloads PRESET (a built-in name, kaggle:// or hf:// "
        "handle) and saves it in OUT as a self-contained preset folder: the "
        "built-in presets' stem padding, a timm checkpoint's conversion, and "
        "the class names and thresholds are written out, so that "
        "`densenet-hub predict OUT ...` or `from_preset(OUT)` work on any "
        "machine, offline, and KerasHub reads the folder too.",
    )
    parser.add_argument("preset", help="built-in name, kaggle:// or hf:// handle, or folder")
    parser.add_argument("out", help="the folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")
    parser.set_defaults(run=run)


def run(args):
    from densenet_hub.convert.offline import save_offline_copy

    copy = save_offline_copy(args.preset, args.out, overwrite=args.overwrite)
    files = ", ".join(sorted(path.name for path in copy.folder.iterdir()))
    print(f"wrote {copy.folder}: a {copy.kind} preset ({files}); it loads offline")
    return 0
