# KerasHub's own DenseNet tests, run against densenet_hub.
#
# Test text: https://github.com/keras-team/keras-hub, tag v0.29.1 (commit
# 9f003296c66e244659030a66158b38f56c32e8d3):
#   keras_hub/src/models/densenet/densenet_backbone_test.py
#   keras_hub/src/models/densenet/densenet_image_classifier_test.py
#   keras_hub/src/utils/timm/convert_densenet_test.py
# The three files are unchanged from v0.29.1 to the newest text checked,
# master at 0.32.0.dev0 (commit 71453d08f, 2026-08-21); the v0.32.0 release
# ships no test files (wheel and sdist), so its text could not be compared.
# Copyright The KerasHub Authors. Licensed under the Apache License, Version
# 2.0 (the "License"); you may not use this file except in compliance with the
# License. You may obtain a copy of the License at
# https://www.apache.org/licenses/LICENSE-2.0. Unless required by applicable
# law or agreed to in writing, software distributed under the License is
# distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied. See the License for the specific language
# governing permissions and limitations under the License.
#
# Harness: KerasHub's `TestCase` from whichever keras-hub is installed
# (`keras_hub.src.tests.test_case`), not a copy; pytest's header (without
# -q) names its version (tests/keras_hub_compat/conftest.py). The test extra allows
# keras-hub >=0.17,<0.40: this checkout's .venv holds 0.29.1, and a fresh
# install resolves to 0.32.0, whose `TestCase` differs (358 diff lines) and
# also imports `grain`. These tests pass under both (0.32.0 checked with
# grain 0.2.18 installed beside it).
#
# Edits, and nothing else:
# - imports: the model classes come from `densenet_hub.models` instead of
#   `keras_hub.src.models...`; the three files' imports are merged at the top.
# - removed, as they can never run here:
#   - `DenseNetImageClassifierTest.test_smallest_preset`: it checks the label
#     (85) predicted for KerasHub's test photo with the published ImageNet
#     weights; the tests have no network, the photo is not in the keras-hub
#     wheel, and random weights cannot give that label.
#   - `DenseNetImageClassifierTest.test_litert_export`: KerasHub's harness
#     skips it unconditionally at v0.29.1 (its issue #2572, tf.lite
#     deprecation), and at v0.32.0 runs it only on the torch backend with
#     `litert-torch` and `ai-edge-litert`, which the test extra does not
#     install. This project's own LiteRT export is checked against Keras'
#     outputs in tests/export/.
#   - `DenseNetImageClassifierTest.test_classifier_basics`: its first line
#     skips it ("TODO: enable after preprocessor flow is figured out"), in
#     every version checked; its `init_kwargs` have no preprocessor, which
#     `run_task_test` needs. The addition below runs that harness call with
#     a preprocessor.
# - additions:
#   - `DenseNetImageClassifierTaskTest.test_classifier_basics_with_a_preprocessor`:
#     KerasHub's `run_task_test` (serialization, predict and fit on arrays,
#     a tf.data pipeline and split preprocessing, and the error without
#     `compile`) on the classifier with a `DenseNetImageClassifierPreprocessor`,
#     at the size of KerasHub's backbone test above; marked `large` (it
#     compiles three fits).
#   - `@pytest.mark.usefixtures(...)` on the three tests that load full-size
#     presets from the hubs (`test_all_presets`,
#     `test_convert_densenet_backbone`, `test_convert_densenet_classifier`).
#     The fixtures (tests/keras_hub_compat/conftest.py) serve full-size files
#     with random weights, generated once per session by
#     tests/helpers/full_size.py (the KerasHub presets written by keras-hub
#     itself), from the local Kaggle and Hugging Face stubs, with the loopback
#     guard on, so nothing leaves the machine.
import numpy as np
import pytest
from keras import ops

from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from keras_hub.src.tests.test_case import TestCase


class DenseNetBackboneTest(TestCase):
    def setUp(self):
        self.init_kwargs = {
            "stackwise_num_repeats": [2, 4, 6, 4],
            "compression_ratio": 0.5,
            "growth_rate": 2,
            "image_shape": (32, 32, 3),
        }
        self.input_size = 32
        self.input_data = np.ones(
            (2, self.input_size, self.input_size, 3), dtype="float32"
        )

    def test_backbone_basics(self):
        self.run_vision_backbone_test(
            cls=DenseNetBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
            expected_output_shape=(2, 1, 1, 24),
            expected_pyramid_output_keys=["P2", "P3", "P4", "P5"],
            expected_pyramid_image_sizes=[(8, 8), (4, 4), (2, 2), (1, 1)],
            run_mixed_precision_check=False,
            run_data_format_check=False,
        )

    @pytest.mark.large
    def test_saved_model(self):
        self.run_model_saving_test(
            cls=DenseNetBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
        )


class DenseNetImageClassifierTest(TestCase):
    def setUp(self):
        # Setup model.
        self.images = np.ones((2, 224, 224, 3), dtype="float32")
        self.labels = [0, 3]
        self.backbone = DenseNetBackbone(
            stackwise_num_repeats=[6, 12, 24, 16],
            compression_ratio=0.5,
            growth_rate=32,
            image_shape=(224, 224, 3),
        )
        self.init_kwargs = {
            "backbone": self.backbone,
            "num_classes": 2,
            "activation": "softmax",
            "pooling": "avg",
        }
        self.train_data = (
            self.images,
            self.labels,
        )

    @pytest.mark.large
    def test_saved_model(self):
        self.run_model_saving_test(
            cls=DenseNetImageClassifier,
            init_kwargs=self.init_kwargs,
            input_data=self.images,
        )

    @pytest.mark.usefixtures("all_builtin_presets_on_hubs")
    @pytest.mark.extra_large
    def test_all_presets(self):
        for preset in DenseNetImageClassifier.presets:
            self.run_preset_test(
                cls=DenseNetImageClassifier,
                preset=preset,
                init_kwargs={"num_classes": 2},
                input_data=self.images,
                expected_output_shape=(2, 2),
            )


# Addition (see the header): KerasHub's task harness, with a preprocessor.
class DenseNetImageClassifierTaskTest(TestCase):
    # Three fits and three predicts, each compiled: minutes on 2 busy cores.
    @pytest.mark.large
    def test_classifier_basics_with_a_preprocessor(self):
        backbone = DenseNetBackbone(
            stackwise_num_repeats=[2, 4, 6, 4],
            compression_ratio=0.5,
            growth_rate=2,
            image_shape=(32, 32, 3),
        )
        converter = DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
        self.run_task_test(
            cls=DenseNetImageClassifier,
            init_kwargs={
                "backbone": backbone,
                "num_classes": 2,
                "activation": "softmax",
                "pooling": "avg",
                "preprocessor": DenseNetImageClassifierPreprocessor(converter),
            },
            train_data=(np.ones((2, 32, 32, 3), dtype="float32"), [0, 1]),
            expected_output_shape=(2, 2),
        )


class TimmDenseNetBackboneTest(TestCase):
    @pytest.mark.usefixtures("timm_densenet121_on_hf")
    @pytest.mark.extra_large
    def test_convert_densenet_backbone(self):
        model = Backbone.from_preset("hf://timm/densenet121.tv_in1k")
        outputs = model.predict(ops.ones((1, 224, 224, 3)))
        self.assertEqual(outputs.shape, (1, 7, 7, 1024))

    @pytest.mark.usefixtures("timm_densenet121_on_hf")
    @pytest.mark.extra_large
    def test_convert_densenet_classifier(self):
        model = ImageClassifier.from_preset("hf://timm/densenet121.tv_in1k")
        outputs = model.predict(ops.ones((1, 512, 512, 3)))
        self.assertEqual(outputs.shape, (1, 1000))
