"""The built-in multi-camera re-ID dataset: procedurally drawn people seen through strongly styled cameras.

Why it exists: the real benchmarks cannot be downloaded here, yet every stage (UnityGAN per camera, transfer,
IDE, evaluation) needs data with the property UnityStyle is about — the same person looks different in each
camera because each camera renders colour, light, contrast, blur and noise in its own way. Identity lives in
shape and pattern (clothing cut, stripes/checks/logos, bags, hair, proportions); style lives in the camera. So
cross-camera matching is hard because of style, yet recoverable.

The output is a Market-1501 folder (file names written by `formats.market_file_name`), so the same loader,
builders and pipeline serve it. Everything is drawn from `numpy` generators keyed by (seed, stream, index):
the same spec gives the same bytes. `spec` holds that contract; `cameras`, `people` and `dataset` draw.
"""

from unitystyle_jax.data.synthetic.cameras import CameraStyle, apply_style, camera_styles
from unitystyle_jax.data.synthetic.dataset import ensure, generate, render_grid, render_image
from unitystyle_jax.data.synthetic.people import Person, Pose, draw_person, random_person, random_pose
from unitystyle_jax.data.synthetic.spec import RENDER_VERSION, STYLE_FAMILIES, SyntheticSpec

__all__ = [
    "RENDER_VERSION",
    "STYLE_FAMILIES",
    "CameraStyle",
    "Person",
    "Pose",
    "SyntheticSpec",
    "apply_style",
    "camera_styles",
    "draw_person",
    "ensure",
    "generate",
    "random_person",
    "random_pose",
    "render_grid",
    "render_image",
]
