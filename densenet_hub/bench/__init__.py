"""Benchmarks of densenet_hub against its peers, run alternately in one process.

Used by `densenet-hub bench` and the scripts in `benchmarks/`. Nothing here is
imported by the library itself.
"""
