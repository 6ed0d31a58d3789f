"""Text layer: normalisation with offsets (``normalize``), disguise recovery (``disguise``) and their resources."""
