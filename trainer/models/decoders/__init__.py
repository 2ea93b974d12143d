"""Segmentation decoders, one folder per architecture."""
