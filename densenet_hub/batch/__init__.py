"""Batch inference over many image files into a resumable Parquet dataset:
`batch_predict` (classes or findings) and `batch_embed` (features), on
this machine or on Ray Data (`engine="ray"`), and `read_output` to read the
rows back in input order."""

from densenet_hub.batch.jobs import ENGINES
from densenet_hub.batch.jobs import BatchResult
from densenet_hub.batch.jobs import batch_embed
from densenet_hub.batch.jobs import batch_predict
from densenet_hub.batch.shards import read_output
