"""`engine="ray"`: a batch job on Ray Data, on this machine or a cluster.

The pending shards become a dataset of one row each (its number and its
paths); `map_batches` sends them to a pool of actors, each holding one
model (built from the picklable `JobModel`, accelerated when a runtime is
given), which computes a shard exactly as the local engine does and writes
it with the same atomic shard writer. So the output layout, the manifest
and resuming are the local engine's, and the rows are equal to its rows.
Shards are written by the actors, not gathered on the driver: on a cluster
the output folder must be on storage every node sees (NFS, a mounted
bucket).

Ray Data's own `write_parquet` is not used: it names files by its own
blocks and writes them in place, while resuming needs one complete file
per shard of input rows, renamed into place once written.
"""

import dataclasses
import os
import shutil
import sys
import tempfile

import keras

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.batch.runners import ERROR_COLUMN
from densenet_hub.batch.runners import run_shards
from densenet_hub.batch.shards import write_shard

# Decoding threads inside each actor (its one model runs meanwhile).
ACTOR_THREADS = 2
# CPUs Ray reserves for each actor, and the inference threads its runtime
# gets: left at every core, two actors on two cores ran at 73% of one
# local process.
ACTOR_CPUS = 1
# How long the actors may take to start and build their models (an export
# to ONNX of DenseNet-201 on a loaded machine takes minutes).
ACTOR_START_S = 1800
# The address of a Ray the job starts on this machine. On Linux Ray replaces
# 127.0.0.1 by the machine's network address (so that other machines could
# join); another address of the loopback network (all of 127.0.0.0/8 on
# Linux) keeps it, and every process it starts, off the network. Windows
# and macOS have only 127.0.0.1, which Ray keeps there.
LOOPBACK = "127.0.0.1" if sys.platform in ("darwin", "win32") else "127.0.0.2"


def import_ray():
    """`ray` with Ray Data, or an error naming the `ray` extra."""
    ray = import_optional("ray", extra_fix("ray"), "engine='ray'")
    import_optional("ray.data", extra_fix("ray"), "engine='ray'")
    return ray


class ShardWorker:
    """A Ray Data actor: builds the job's model once, then computes and
    writes the shards of each batch of dataset rows it is given."""

    def __init__(self, job, folder, batch_size):
        self.runner = dataclasses.replace(job, threads=job.threads or ACTOR_CPUS).build()
        self.folder = folder
        self.batch_size = batch_size

    def __call__(self, rows):
        node = import_ray().get_runtime_context().get_node_id()
        done = {"shard": [], "rows": [], "errors": [], "node": [], "pid": []}
        for shard, paths in zip(rows["shard"], rows["paths"]):
            shard, paths = int(shard), list(paths)

            def write(_, table):
                write_shard(self.folder, shard, table)
                errors = table.column(ERROR_COLUMN)
                done["errors"].append(len(errors) - errors.null_count)

            # The shard's own rows, renumbered from its start: batches are
            # cut as the local engine cuts them.
            run_shards(
                self.runner, paths, [(0, 0, len(paths))], self.batch_size, ACTOR_THREADS, write
            )
            done["shard"].append(shard)
            done["rows"].append(len(paths))
            done["node"].append(node)
            done["pid"].append(os.getpid())
        return done


def run_on_ray(job, paths, output, shards, batch_size, *, address=None, workers=None,
               on_shard=None):  # fmt: skip
    """Computes and writes `shards` of `output` on Ray; returns one record
    per shard: `{"shard", "rows", "errors", "node", "pid"}`.

    Args:
        job: the `JobModel`.
        paths: every path of the job.
        output: the `ShardedOutput` (its folder is written to).
        shards: the shard numbers to compute.
        batch_size: images per batch.
        address: `None` starts a Ray on this machine for this job, on a
            loopback address, without dashboard; `"auto"` or `"host:port"` joins a
            running cluster. A Ray already initialised in this process is
            used as it is.
        workers: actors, each holding one model; default one per CPU of
            the cluster, at most one per shard.
        on_shard: `None`, or called with each finished shard's record.
    """
    ray = import_ray()
    # The workers must build the model on the backend this process uses.
    runtime_env = {"env_vars": {"KERAS_BACKEND": keras.backend.backend()}}
    started = not ray.is_initialized()
    temp_dir = None
    if started:
        if address is None:
            # Its own folder (short: Ray's socket paths under it must stay
            # under 108 bytes), deleted with it; "local" starts a new Ray
            # even where RAY_ADDRESS names a running one.
            short = "/tmp" if os.path.isdir("/tmp") else None
            temp_dir = tempfile.mkdtemp(prefix="dh-batch-", dir=short)
            ray.init(
                address="local", include_dashboard=False, _node_ip_address=LOOPBACK,
                _temp_dir=temp_dir, runtime_env=runtime_env, log_to_driver=False,
            )  # fmt: skip
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    before = (context.enable_progress_bars, context.wait_for_min_actors_s)
    context.enable_progress_bars = False
    # Every actor holds its model before the first shard is handed out, so
    # that the shards spread over all of them.
    context.wait_for_min_actors_s = ACTOR_START_S
    try:
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        workers = max(1, min(workers, len(shards)))
        items = []
        for shard in shards:
            start, stop = output.rows(shard)
            items.append({"shard": shard, "paths": [str(paths[row]) for row in range(start, stop)]})
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        done = dataset.map_batches(
            ShardWorker,
            batch_size=1,
            # A shard is a large unit of work: one at a time per actor, so
            # that an actor ready first does not queue the others' shards.
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
            num_cpus=ACTOR_CPUS,
            fn_constructor_kwargs={
                "job": job, "folder": str(output.folder), "batch_size": batch_size
            },
            runtime_env=runtime_env,
        )  # fmt: skip
        records = []
        for row in done.iter_rows():
            record = {key: int(row[key]) for key in ("shard", "rows", "errors", "pid")}
            record["node"] = row["node"]
            records.append(record)
            if on_shard is not None:
                on_shard(record)
        return records
    finally:
        context.enable_progress_bars, context.wait_for_min_actors_s = before
        if started:
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
