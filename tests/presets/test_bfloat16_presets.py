"""A `dtype="bfloat16"` backbone saves and reloads bit-identically, in one
weight file and in KerasHub's shards (saving once crashed while sizing the
variables for sharding)."""

import numpy as np
import pytest

import densenet_hub


@pytest.mark.parametrize("max_shard_size", [10, 0.00002], ids=["one file", "sharded"])
def test_bfloat16_backbone_reloads_bit_identically(tmp_path, max_shard_size):
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3), dtype="bfloat16"
    )
    backbone.save_to_preset(tmp_path, max_shard_size=max_shard_size)
    sharded = (tmp_path / "model.weights.json").exists()
    assert sharded == (max_shard_size < 1)
    again = densenet_hub.models.Backbone.from_preset(tmp_path, dtype="bfloat16")
    assert again.dtype_policy.name == "bfloat16"
    saved, loaded = backbone.get_weights(), again.get_weights()
    assert len(saved) == len(loaded)
    for before, after in zip(saved, loaded):
        assert str(after.dtype) == "bfloat16"
        np.testing.assert_array_equal(np.asarray(before).view("uint16"), np.asarray(after).view("uint16"))
