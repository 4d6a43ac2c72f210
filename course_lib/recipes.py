"""The training and evaluation recipes of the course: how notebooks 04-07 train and score.

Taught in 04_discriminant_network (the DC recipes; reused by 05 and 07) and 06_unet_segmentation
(the U-Net recipes; reused by 07): the paper's protocol written once, read top to bottom.
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
    """``(train_pairs, val_pairs)`` for a DC model, as 04 and 05 train them (the paper's 1:4
    Method1:Method2 schedule). Taught in 04_discriminant_network. ``augment``: offline with
    ``profile.expand_classification``, else every image of every pair on the fly."""
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
    member with it). ``seed`` defaults to ``profile.seed``. The student's code (notebook 04):
    ``build_model(backbone_model, input_shape)`` replaces :func:`assemble_dc_model`,
    ``compile_model(model, loss=..., **compile_options)`` replaces :func:`compile_dc_model`; such
    a model is also saved as the course's architecture (weights copied by role), loadable
    without the student's classes. Returns ``(model, history, seconds)``."""
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
    """Test numbers of a trained DC model with the head chosen on validation AP, recorded.
    Taught in 04_discriminant_network (reused by 05); ``select`` replaces :func:`select_head`
    (Exercise 4.5). Returns the evaluation plus ``head``, ``validation_ap``, ``mean_of_heads``."""
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
    ``augment``: offline with ``profile.expand_segmentation``, else on the fly. Returns
    ``(model, history_dict, seconds)``."""
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
    """Score a U-Net on test images with the ISIC 2016 rules (06_unet_segmentation): scores at
    the ORIGINAL mask sizes are recorded, those at model size (``model_size_masks``) added.
    Returns the evaluation dict plus ``"model_size"`` and ``"probabilities"``."""
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
