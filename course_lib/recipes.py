"""The training and evaluation recipes of the course: how notebooks 04-07 train and score.

Taught in 04_discriminant_network (:func:`dc_pair_sequences`, :func:`train_dc_model`,
:func:`evaluate_dc_model`; reused by 05 and 07) and 06_unet_segmentation (:func:`train_unet`,
:func:`evaluate_unet`; reused by 07). Each recipe reads top to bottom: data, model (from the
builders of :mod:`course_lib.models`, which only build), compile, :func:`course_lib.train.fit`,
evaluation with the challenge's rules. Nothing here is new maths; it is the paper's protocol
written once so that the notebooks and the fusion's fallback train the same way.
"""
from __future__ import annotations

import numpy as np

import keras

from .models.backbones import build_backbone
from .models.discriminant import (HEADS, build_dc_model, compile_dc_model, copy_dc_weights,
                                  dc_predict, select_head)
from .models.unet import build_unet, predict_masks, segmentation_loss, upsample_probabilities

__all__ = ["dc_pair_sequences", "train_dc_model", "evaluate_dc_model", "train_unet",
           "evaluate_unet"]


# --------------------------------------------------------------------------- DC models (04, 05)

def dc_pair_sequences(splits, profile, augment: bool = True, seed: int | None = None):
    """Training and validation pairs for a DC model, as 04 and 05 train them.

    Taught in 04_discriminant_network. ``splits`` comes from
    :func:`course_lib.data.load_splits`, ``profile`` from :mod:`course_lib.config`. Training
    pairs follow the paper's 1:4 Method1:Method2 schedule (:class:`course_lib.pairs.PairSequence`,
    batch ``profile.batch_size``). With ``augment=True`` the training images are augmented with
    the paper's operations: expanded once, offline, when the profile asks for the paper's
    expansion (``profile.expand_classification``, 900 -> 4430 scaled to the split's size),
    otherwise every image of every pair gets a fresh random composition
    (:func:`course_lib.augment.random_composition`). Validation pairs use the validation split
    unchanged. Returns ``(train_pairs, val_pairs)`` with targets keyed "cls1", "cls2", "same".
    """
    from . import augment as augmentation
    from .pairs import PairSequence

    if not hasattr(splits, "x_train") or not hasattr(profile, "batch_size"):
        raise ValueError("dc_pair_sequences(splits, profile) expects the Splits of "
                         "course_lib.data.load_splits(profile) and a course_lib.config.Profile.")
    seed = profile.seed if seed is None else int(seed)
    images, labels, on_the_fly = splits.x_train, np.asarray(splits.y_train), None
    if augment and profile.expand_classification:
        target = augmentation.scale_target(profile.expand_classification, len(labels))
        plan = augmentation.classification_plan(labels, target)
        images, _, labels, _ = augmentation.expand(images, None, labels, plan, rng=seed)
    elif augment:
        def on_the_fly(image, rng):
            return augmentation.random_composition(image, rng=rng)
    names = ("cls1", "cls2", "same")
    train_pairs = PairSequence(images, labels, batch_size=profile.batch_size, seed=seed,
                               augment=on_the_fly, output_names=names)
    val_pairs = PairSequence(splits.x_val, np.asarray(splits.y_val),
                             batch_size=profile.batch_size, seed=seed + 1, output_names=names)
    return train_pairs, val_pairs


def train_dc_model(backbone: str, train_pairs, val_pairs, profile, *, name: str | None = None,
                   loss="categorical_crossentropy", epochs: int | None = None,
                   steps_per_epoch: int | None = None, seed: int | None = None,
                   fresh: bool = False, verbose: int = 2, build_model=None, compile_model=None):
    """Build, compile and train one DC model the way notebooks 04 and 05 do.

    Taught in 04_discriminant_network (05 passes ``loss=focal``; 07 trains a missing fusion
    member with it). A fresh Keras session seeded by ``seed`` (default ``profile.seed``), the
    profile's image size and initial weights, Eq. 5's loss weights (:func:`compile_dc_model`),
    the hardware settings (:func:`course_lib.train.fresh_session`: mixed precision and XLA on a
    GPU in lab/paper, the model built in :func:`course_lib.train.strategy_scope`),
    and :func:`course_lib.train.fit` (the paper's protocol; saves ``runs/<profile>/models/<name>``).

    Injection points (the student's code, notebook 04): ``build_model(backbone_model,
    input_shape) -> model`` replaces :func:`assemble_dc_model` around the profile's backbone
    (named "backbone"); ``compile_model(model, loss=..., **compile_options)`` replaces
    :func:`compile_dc_model`. A model built by ``build_model`` is also saved as the course's
    architecture (weights copied by role) so that later notebooks can load it without the
    student's classes. Returns ``(model, history, seconds)``.
    """
    from . import runtime, train

    name = name or f"dc-{backbone}"
    train.fresh_session(profile, seed)  # also re-applies mixed precision on a GPU
    shape = (profile.image_size, profile.image_size, 3)
    with train.strategy_scope():  # mirrored over several GPUs; no change on one device
        if build_model is None:
            model = build_dc_model(backbone, input_shape=shape, weights=profile.weights)
        else:
            model = build_model(build_backbone(backbone, input_shape=shape,
                                               weights=profile.weights, name="backbone"), shape)
        (compile_model or compile_dc_model)(model, loss=loss, **train.compile_options(profile))
    with runtime.Timer() as timer:
        history = train.fit(model, train_pairs, val_pairs, profile=profile, name=name,
                            epochs=epochs, steps_per_epoch=steps_per_epoch, fresh=fresh,
                            verbose=verbose)
    if build_model is not None:  # save the course's architecture with the trained weights
        portable = copy_dc_weights(model, build_dc_model(backbone, input_shape=shape))
        portable.save(train.saved_model_path(profile, name))
    return model, history, timer.seconds


def evaluate_dc_model(model, splits, *, notebook: str, name: str, profile, epochs=None,
                      wall_seconds=None, n_boot: int = 1000, extra: dict | None = None,
                      select=None) -> dict:
    """Test numbers of a trained DC model, as the paper reports them, recorded for the report.

    Taught in 04_discriminant_network (reused by 05). The head is chosen on the validation split
    by AP (:func:`select_head`); the test set is scored once with that head
    (:func:`course_lib.evaluation.evaluate_classification`, bootstrap intervals, one result
    record) and, for comparison only, with the mean of both heads. Returns the evaluation dict
    plus ``head``, ``validation_ap`` and ``mean_of_heads``. ``select(model, val_images,
    val_labels) -> (head, {"cls1": ap, "cls2": ap})`` replaces :func:`select_head` (the
    student's head selection, Exercise 4.5).
    """
    from . import evaluation, metrics

    head, validation = (select or select_head)(model, splits.x_val, splits.y_val)
    if head not in HEADS:
        raise ValueError(f"select returned head {head!r}; expected 'cls1' or 'cls2'.")
    print(f"{name}: validation AP cls1 {validation['cls1']:.3f}, cls2 {validation['cls2']:.3f}"
          f" -> {head}")
    mean_of_heads = metrics.classification_scores(
        splits.y_test, dc_predict(model, splits.x_test, head="mean"))
    print(f"{name + ' (mean of heads)':<24} {metrics.format_scores(mean_of_heads)}")
    result = evaluation.evaluate_classification(
        splits.y_test, dc_predict(model, splits.x_test, head=head), notebook=notebook,
        model=name, profile=profile, epochs=epochs, wall_seconds=wall_seconds, n_boot=n_boot,
        extra={"head": head, "validation_ap": validation, "mean_of_heads": mean_of_heads,
               **(extra or {})})
    return {**result, "head": head, "validation_ap": validation, "mean_of_heads": mean_of_heads}


# --------------------------------------------------------------------------- U-Nets (06)

def train_unet(encoder: str, splits, profile, *, name: str, loss="bce_dice",
               augment: bool = True, weights="profile", epochs: int | None = None,
               fresh: bool = False, verbose: int = 2, decoder_block=None, skip_layers=None):
    """Build, compile and train one U-Net with the paper's protocol; save it under
    ``runs/<profile>/models/<name>.keras``. Taught in 06_unet_segmentation (reused by 07_fusion).

    Args:
        encoder: see :func:`build_unet`.
        splits: :class:`course_lib.data.Splits` with masks (``data.load_splits(profile)``); its
            image size is the model's input size.
        profile: a :class:`course_lib.config.Profile` (epochs, batch size, seed, weights).
        name: model name for :func:`course_lib.train.fit` and the result records, e.g.
            ``"unet-mobilenet"``.
        loss: ``"bce_dice"`` (paper), ``"focal"`` (Table X), ``"dice"`` or a Keras loss.
        augment: augment the training part (never the validation part). With
            ``profile.expand_segmentation`` (the paper profile: 900 -> 6900) the training
            images are expanded OFFLINE by :func:`course_lib.augment.expand` with the target
            scaled to the training part; otherwise each batch is augmented on the fly by
            :func:`course_lib.augment.tf_augment_fn` (image and mask together).
        weights: ``"profile"`` (``profile.weights``: None in smoke, "imagenet" in lab/paper)
            or anything :func:`build_unet` accepts (e.g. the path of ``dc-mobilenet.keras``).
        epochs: default ``profile.seg_epochs`` (the paper: 50).
        fresh: discard an interrupted run's backup instead of resuming it.
        decoder_block, skip_layers: passed to :func:`build_unet` (the student's block and
            skip choice of exercises 6.4 and 6.5; default: the library's).

    Returns ``(model, history_dict, seconds)``. The seed is reset to ``profile.seed`` before
    building, so a model does not depend on what the notebook trained before it.
    """
    from . import augment as augmentation
    from . import train
    from .data import segmentation_dataset
    from .runtime import Timer

    if splits.m_train is None or splits.m_val is None:
        raise ValueError("splits has no masks: load them with data.load_splits(profile, "
                         "masks=True).")
    train.fresh_session(profile)  # same start every time; re-applies mixed precision on a GPU
    size = splits.image_size
    with train.strategy_scope():  # mirrored over several GPUs; no change on one device
        model = build_unet(encoder, (size, size, 3),
                           weights=profile.weights if weights == "profile" else weights,
                           decoder_block=decoder_block, skip_layers=skip_layers)
        # XLA as the hardware settings decide; run_eagerly stays off for U-Nets, as the course
        # has always trained them
        model.compile(optimizer=train.paper_optimizer(), loss=segmentation_loss(loss),
                      jit_compile=train.compile_options(profile)["jit_compile"])
    x_train, m_train, on_the_fly = splits.x_train, splits.m_train, None
    if augment and profile.expand_segmentation:
        target = augmentation.scale_target(profile.expand_segmentation, len(x_train))
        plan = augmentation.segmentation_plan(len(x_train), target)
        x_train, m_train, _, _ = augmentation.expand(x_train, m_train, None, plan,
                                                     rng=profile.seed)
    elif augment:
        on_the_fly = augmentation.tf_augment_fn(seed=profile.seed)
    train_data = segmentation_dataset(x_train, m_train, profile.batch_size,
                                      augment=on_the_fly, seed=profile.seed)
    val_data = segmentation_dataset(splits.x_val, splits.m_val, profile.batch_size,
                                    shuffle=False)
    with Timer() as timer:
        history = train.fit(model, train_data, val_data, profile=profile, name=name,
                            epochs=profile.seg_epochs if epochs is None else epochs,
                            fresh=fresh, verbose=verbose)
    return model, dict(history.history), timer.seconds


def evaluate_unet(model: keras.Model, images, original_masks, *, name: str, profile,
                  model_size_masks=None, notebook: str = "06_unet_segmentation",
                  epochs: int | None = None, wall_seconds: float | None = None,
                  extra: dict | None = None, record: bool = True, verbose: bool = True,
                  probabilities=None, n_boot: int = 1000) -> dict:
    """Score a U-Net on test images with the ISIC 2016 rules, at BOTH resolutions.

    Taught in 06_unet_segmentation. The probability maps (at the model's input size) are
    upsampled bilinearly to each ORIGINAL mask's size and thresholded at 0.5 there -- the
    challenge rule, recorded through :func:`course_lib.evaluation.evaluate_segmentation` under
    ``name`` with bootstrap intervals. With ``model_size_masks`` (the test masks at the model's
    size, e.g. ``splits.m_test``) the cheaper model-size scores are computed too (not recorded
    separately; stored in the record's ``extra["model_size"]``).

    Returns the evaluation dict (``"metrics"``, ``"ci"``, ``"per_image"``) plus
    ``"model_size"`` (metrics dict or None) and ``"probabilities"`` ((N, h, w) at model size).
    ``probabilities`` may be given to skip the prediction (e.g. a fusion of two models);
    ``n_boot`` bootstrap resamples give the 95 % intervals.
    """
    from . import evaluation, metrics

    if probabilities is None:
        probabilities = predict_masks(model, images)
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 4:
        probabilities = probabilities[..., 0]
    if len(probabilities) != len(original_masks):
        raise ValueError(f"{len(probabilities)} predictions for {len(original_masks)} masks: "
                         "pass the test images and their masks in the same order.")
    model_size = None
    if model_size_masks is not None:
        model_size = metrics.segmentation_scores(list(model_size_masks), list(probabilities))
    # Upsample one map at a time and keep only the thresholded mask (1 byte per pixel).
    predicted = [upsample_probabilities([prob], [np.shape(truth)])[0] > 0.5
                 for prob, truth in zip(probabilities, original_masks)]
    info = {"resolution": "original mask size (probabilities upsampled bilinearly)",
            "model_input": int(probabilities.shape[1])}
    if model_size is not None:
        info["model_size"] = {key: float(value) for key, value in model_size.items()}
    info.update(extra or {})
    result = evaluation.evaluate_segmentation(
        original_masks, predicted, notebook=notebook, model=name, profile=profile,
        epochs=epochs, wall_seconds=wall_seconds, n_boot=n_boot, record=record, extra=info,
        verbose=verbose)
    result["model_size"] = model_size
    result["probabilities"] = probabilities
    return result
