"""Model builders: the Table III backbones, the DC (discriminant) models and the U-Nets.

Taught in 03_lightweight_cnns (backbones), 04_discriminant_network (DC models) and
06_unet_segmentation (U-Nets).
"""
from .backbones import (BACKBONES, FEATURE_DIMS, FEATURE_LAYER, LAST_CONV_LAYER, PAPER_PARAMS,
                        SHUFFLENET_PAPER_PARAMS, WeightsUnavailableError, build_backbone,
                        build_classifier, preprocessing_layer, shufflenet_difference)
from .discriminant import (DC_LOSS_WEIGHTS, DC_PAPER_TRAINABLE_PARAMS, SquaredDifference,
                           build_dc_model, compile_dc_model, dc_classifier, dc_losses,
                           dc_predict, select_head)
from .unet import (DECODER_FILTERS, ENCODERS, SKIP_LAYERS, UNET_PARAMS, build_unet,
                   decoder_block, init_encoder_from_dc)
