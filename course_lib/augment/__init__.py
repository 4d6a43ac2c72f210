"""The paper's data augmentation, for an image alone or for an image and its lesion mask together.

Taught in 01_data_and_augmentation. Section III.B.1 of the paper lists the operations: rotation
by 90, 180 and 270 degrees, mirroring, centre cropping, brightness change and random occlusion;
section III.C.1 applies "the same" operations to the segmentation masks. The package:

1. :mod:`~course_lib.augment.ops`: the registry (:data:`REGISTRY`, one :class:`Op` per name:
   its kind, NumPy function, TensorFlow function, parameters), single operations on numpy
   arrays (:func:`apply`) and random compositions of them (:func:`random_composition`).
2. :mod:`~course_lib.augment.expansion`: the paper's OFFLINE expansion (900 -> 4430 images for
   classification, 900 -> 6900 for segmentation): :class:`ExpansionPlan`,
   :func:`classification_plan`, :func:`segmentation_plan`, :func:`expand`. The split that has
   to come BEFORE it (:func:`course_lib.data.split_by_source`, versus the paper's leaky
   :func:`course_lib.data.naive_split_after_expansion`, measured by
   :func:`course_lib.data.leak_fraction`) lives in :mod:`course_lib.data.splits`.
3. :mod:`~course_lib.augment.on_the_fly`: ON-THE-FLY augmentation for ``tf.data``
   (:func:`tf_augment_fn`, built from the TensorFlow ops in :mod:`~course_lib.augment.tf_ops`)
   and the Keras preprocessing layers way (:func:`keras_augmentation_layers`).

Geometric operations (rotations, mirrors, the centre crop) move the lesion, so the mask moves
with the image. Photometric operations (brightness, occlusion) do not move anything, so the mask
is returned unchanged: a darker photograph shows the same lesion in the same pixels, and a black
box drawn over part of the lesion hides it from the network without removing it from the skin.
The mask says where the lesion IS, not what the camera saw, so the label of every pixel stays.

Orientation conventions (the same in numpy and TensorFlow): ``rot90`` turns the picture a
quarter turn COUNTER-clockwise (``np.rot90`` / ``tf.image.rot90``); ``flip_h`` mirrors left <->
right (a horizontal mirror, ``np.fliplr`` / ``tf.image.flip_left_right``); ``flip_v`` mirrors
top <-> bottom (``np.flipud`` / ``tf.image.flip_up_down``).
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
