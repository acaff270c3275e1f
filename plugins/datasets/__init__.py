"""General-purpose datasets: ``mnist`` (the seed's digits; a local file, the Keras cache,
a download, else a bundled sample) and ``image-folder`` (one subfolder per class)."""
