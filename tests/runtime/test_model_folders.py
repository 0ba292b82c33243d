"""Accelerated folders read back with a chosen number of inference threads
(a Ray actor runs its engine on the CPUs Ray reserved for it)."""

import dataclasses

import pytest

from densenet_hub.batch.ray_engine import ACTOR_CPUS
from densenet_hub.batch.ray_engine import ShardWorker
from densenet_hub.batch.runners import JobModel
from densenet_hub.runtime import accelerate
from densenet_hub.runtime.model_folders import load_feature_folder
from densenet_hub.runtime.model_folders import load_scoring_model

pytest.importorskip("onnxruntime")


def session_threads(model):
    return model.engine.session.get_session_options().intra_op_num_threads


def test_scoring_and_feature_folders_take_threads(tiny_classifier, tmp_path):
    accelerate(tiny_classifier, runtime="onnxruntime").save(tmp_path / "classifier")
    features = accelerate(tiny_classifier.backbone, runtime="onnxruntime")
    features.preprocessor = tiny_classifier.preprocessor
    features.save(tmp_path / "features")
    model, _ = load_scoring_model(tmp_path / "classifier", threads=1)
    assert session_threads(model) == 1
    assert session_threads(load_feature_folder(tmp_path / "features", threads=1)) == 1
    # `None` leaves ONNX Runtime its default (0: one per physical core).
    assert session_threads(load_scoring_model(tmp_path / "classifier")[0]) == 0


def test_a_ray_actor_builds_its_model_with_the_cpus_it_holds(tiny_classifier, tmp_path):
    accelerate(tiny_classifier, runtime="onnxruntime").save(tmp_path / "classifier")
    built = []

    @dataclasses.dataclass(frozen=True)
    class RecordingJob(JobModel):
        def build(self):
            built.append(self.threads)
            return super().build()

    ShardWorker(RecordingJob(str(tmp_path / "classifier"), "predict"), str(tmp_path), 8)
    ShardWorker(RecordingJob(str(tmp_path / "classifier"), "predict", threads=2), str(tmp_path), 8)
    assert built == [ACTOR_CPUS, 2]
