"""adallava: adaptive LLaVA inference on the CPU, from Python.

    import adallava
    model = adallava.Model("models/adallava-tiny-L", threads=2)
    r = model.generate("What shape is the object?", image="models/examples/scene-1.png", budget=0.75)
    print(r.text, r.plan.executed_layers, r.timings)

The package calls the engine through its C API (libadallava), as the CLI and the server do.
"""
from ._adallava import Error, version as _version
from .images import to_image as load_image
from .model import Model
from .result import LayerPlan, Plan, Result, Token
from .stream import Stream

__version__ = _version()
__all__ = ["Error", "Model", "load_image", "Result", "Plan", "LayerPlan", "Token", "Stream", "__version__"]
