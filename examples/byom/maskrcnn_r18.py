"""A Mask R-CNN that is none of the paper's detectors: torchvision's Mask R-CNN heads on a ResNet-18
+ FPN backbone, for `tools/export_model.py --module examples/byom/maskrcnn_r18.py:build --detector`.
Its five FPN levels (256 channels, strides 4 to 64) feed the engine's Mask R-CNN heads."""
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone


def build(num_classes=91):
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5)
    return MaskRCNN(backbone, num_classes=num_classes)
