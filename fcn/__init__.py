"""The segmentation network behind FCN-score."""
