"""Serving a classifier over HTTP: the Open Inference Protocol v2 (KServe /
Triton REST), an image-upload route with Grad-CAM, micro-batching of
concurrent requests, Prometheus metrics and a web page.

`create_app(model_or_preset)` is the ASGI app (Starlette); `serve(...)` runs
it under uvicorn until Ctrl-C or SIGTERM; `ServerThread` runs it in the
background; `deploy_on_ray(preset, replicas=N)` runs it as N replicas on Ray
Serve (also needs the `ray` extra). They need the `serve` extra (`pip
install 'densenet-hub[serve]'`) and are imported on first use, so that the
command line lists `serve` without it.
"""

import importlib

_PUBLIC = {
    "create_app": "densenet_hub.serving.app",
    "ServedModel": "densenet_hub.serving.model",
    "load_served_model": "densenet_hub.serving.model",
    "ExposedServerWarning": "densenet_hub.serving.server",
    "ServerThread": "densenet_hub.serving.server",
    "serve": "densenet_hub.serving.server",
    "deploy_on_ray": "densenet_hub.serving.ray_deployment",
    "serve_on_ray": "densenet_hub.serving.ray_deployment",
    "RayDeployment": "densenet_hub.serving.ray_deployment",
    "ReplicaStartError": "densenet_hub.serving.ray_deployment",
}


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'densenet_hub.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_PUBLIC])
