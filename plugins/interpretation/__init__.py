"""Interpretation: saliency (Grad-CAM, the seed's gradient-weighted feature maps), input
gradients and SmoothGrad, filter visualization by gradient ascent, feature projections,
latent spaces (t-SNE, mean shift) and representation arithmetic — for any task whose
task type defines an explanation score."""
