"""An image given as a path, encoded bytes, an RGB array or a PIL image is the same image."""
import numpy as np
import PIL.Image
import pytest

import adallava


def test_every_form_of_an_image_gives_the_same_logits(tiny_L, scene):
    ids = tiny_L.prompt_ids("What colour is the object?", image=True)
    want = tiny_L.logits(ids, image=scene, budget=0.75)
    pil = PIL.Image.open(scene)
    forms = [str(scene), scene.read_bytes(), bytearray(scene.read_bytes()), np.asarray(pil.convert("RGB")), pil,
             pil.convert("RGBA")]
    for form in forms:
        np.testing.assert_array_equal(tiny_L.logits(ids, image=form, budget=0.75), want, err_msg=type(form).__name__)
    other = np.zeros((96, 96, 3), np.uint8)
    assert not np.array_equal(tiny_L.logits(ids, image=other, budget=0.75), want)  # the image does matter


def test_a_non_contiguous_array_is_the_image_it_shows(tiny_L, scene):
    rgb = np.asarray(PIL.Image.open(scene).convert("RGB"))
    flipped = rgb[:, ::-1]  # a view with a negative stride
    ids = tiny_L.prompt_ids("What is left of the circle?", image=True)
    np.testing.assert_array_equal(tiny_L.logits(ids, image=flipped),
                                  tiny_L.logits(ids, image=np.ascontiguousarray(flipped)))


def test_bad_images_are_refused_by_name(tiny_L, tmp_path):
    with pytest.raises(adallava.Error, match="image"):
        tiny_L.generate("hi", image=b"not an image at all")
    with pytest.raises(ValueError, match="uint8 of shape"):
        tiny_L.generate("hi", image=np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 of shape"):
        tiny_L.generate("hi", image=np.zeros((8, 8), np.uint8))
    with pytest.raises(adallava.Error, match="pixel"):
        tiny_L.generate("hi", image=np.zeros((0, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        tiny_L.generate("hi", image=tmp_path / "missing.png")
    with pytest.raises(TypeError, match="image"):
        tiny_L.generate("hi", image=42)
