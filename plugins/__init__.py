"""Built-in plugins of visionhooks, each registered through the ``visionhooks`` entry-point
group exactly like a third party's."""
