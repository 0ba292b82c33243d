"""`python -m densenet_hub`: the `densenet-hub` command."""

from densenet_hub.cli.main import entry_point

if __name__ == "__main__":
    entry_point()
