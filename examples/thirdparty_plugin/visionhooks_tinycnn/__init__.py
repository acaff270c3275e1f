"""visionhooks-tinycnn: an example third-party plugin."""
