"""Where a classifier looks: Grad-CAM heat maps (`heat_maps.grad_cam`), the
explanations of one image's predicted classes or findings
(`explanations.explain_image`), and the picture of an explanation
(`pictures.draw_explanation`, matplotlib)."""

from densenet_hub.explain.explanations import Explanation
from densenet_hub.explain.explanations import explain_image
from densenet_hub.explain.heat_maps import grad_cam
from densenet_hub.explain.pictures import draw_explanation
