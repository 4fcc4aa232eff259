"""An image argument as the engine's image: a path, encoded bytes, an RGB array or a PIL image."""
import os

import numpy as np

from . import _adallava


def to_image(image):
    """None, or the engine's image of what the caller passed: a path, encoded bytes (PNG, JPEG,
    BMP, GIF), a uint8 array (height, width, 3) or a PIL image. Decode once with
    adallava.load_image to ask several questions about one image."""
    if image is None or isinstance(image, _adallava.Image):
        return image
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:  # a missing file raises FileNotFoundError naming it
            return _adallava.Image.from_bytes(f.read())
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _adallava.Image.from_bytes(bytes(image))
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image, without importing PIL
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image: an array must be uint8 of shape (height, width, 3); "
                             f"got {image.dtype} of shape {image.shape}")
        return _adallava.Image.from_rgb(np.ascontiguousarray(image))
    raise TypeError(f"image: expected a path, bytes, a numpy array or a PIL image, not {type(image).__name__}")
