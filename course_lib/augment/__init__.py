"""The paper's data augmentation, for an image alone or for an image and its lesion mask together.

Taught in 01_data_and_augmentation (paper sections III.B.1 and III.C.1: rotations by 90, 180 and
270 degrees, mirroring, centre cropping, brightness change, random occlusion, and "the same" for
the masks): single operations (``ops``), the OFFLINE expansion (``expansion``) and ``tf.data`` /
Keras-layer augmentation (``on_the_fly``). Geometric operations move the lesion, so the mask
moves with the image; photometric ones (brightness, occlusion) leave the mask unchanged: it says
where the lesion IS, not what the camera saw. ``rot90`` is a quarter turn COUNTER-clockwise;
``flip_h`` mirrors left <-> right, ``flip_v`` top <-> bottom (the same in numpy and TensorFlow).
"""
from .expansion import (
    CLASS_NAMES, ExpansionPlan, _check_labels, classification_plan, expand, scale_target,
    segmentation_plan,
)
from .on_the_fly import augment_pair, keras_augmentation_layers, tf_augment_fn
from .ops import (
    DIHEDRAL_OPS, GEOMETRIC_OPS, OPS, PHOTOMETRIC_OPS, REGISTRY, ROTATION_OPS, TF_OPS, Op,
    _check_op, _check_ops, apply, apply_sequence, center_crop, occlude, random_composition,
    rotate_and_mirror, sample_composition,
)

__all__ = [
    "OPS", "GEOMETRIC_OPS", "PHOTOMETRIC_OPS", "ROTATION_OPS", "DIHEDRAL_OPS", "TF_OPS",
    "REGISTRY", "Op", "CLASS_NAMES", "apply", "apply_sequence", "sample_composition",
    "random_composition", "ExpansionPlan", "classification_plan", "segmentation_plan",
    "scale_target", "expand", "tf_augment_fn", "keras_augmentation_layers",
    "rotate_and_mirror", "occlude", "center_crop", "augment_pair",
]
