"""Benchmarks of densenet_hub against its peers, each candidate in its own
worker process, timed alternately.

Used by `densenet-hub bench` and the scripts in `benchmarks/`. Nothing here is
imported by the library itself. torch is never imported in the driving
process: on the TensorFlow backend Keras has imported TensorFlow by then, and
torch after TensorFlow crashes; the workers import it first.
"""
