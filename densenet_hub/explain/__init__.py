"""Where a classifier looks: Grad-CAM heat maps (`heat_maps.grad_cam`), the
explanations of one image's predicted classes or findings
(`explanations.explain_image`) or of many image files
(`explanations.explain_files`), and their pictures (`pictures`, matplotlib:
`draw_explanation` for one, `draw_contact_sheet` for many)."""

from densenet_hub.explain.explanations import Explanation
from densenet_hub.explain.explanations import explain_files
from densenet_hub.explain.explanations import explain_image
from densenet_hub.explain.heat_maps import grad_cam
from densenet_hub.explain.pictures import draw_contact_sheet
from densenet_hub.explain.pictures import draw_explanation
