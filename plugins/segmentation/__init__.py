"""Segmentation: U-Net (Ronneberger et al. 2015), cross-entropy and Dice losses, IoU and
Dice metrics, mask postprocessing and overlays."""
