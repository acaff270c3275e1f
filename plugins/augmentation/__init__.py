"""Augmentation: flips, shifts, rotations, zooms (fused into one affine warp per image,
moving masks and boxes with the image), brightness and contrast; batched, jit-compiled,
inside the training step."""
