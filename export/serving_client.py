"""Client helpers for a purifier served by TF Serving: REST/gRPC payloads in, NumPy out.

REST (port 8501)::

    payload = rest_payload(images)                        # uint8 (N, H, W, 3), serving_default
    payload = rest_bytes_payload([png_or_jpeg_bytes])     # predict_bytes, base64 {"b64": ...}
    images = parse_rest_response(post_json(rest_url("http://localhost:8501"), payload))

gRPC (port 8500, needs the ``tensorflow-serving-api`` package, imported only when used)::

    request = grpc_request(images, model_name="purifier")
    images = parse_grpc_response(predict_grpc("localhost:8500", request))

Command line (one image; prints where the result went)::

    python -m export.serving_client --url=http://localhost:8501 --image=eye.png --output=out.png
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purify_tf.inference.serving import (
    INPUT_BYTES,
    INPUT_FLOAT,
    INPUT_UINT8,
    OUTPUT_BYTES,
    SIGNATURE_BYTES,
    SIGNATURE_FLOAT,
    SIGNATURE_UINT8,
)

# The single input tensor of each signature.
INPUT_NAMES = {SIGNATURE_UINT8: INPUT_UINT8, SIGNATURE_FLOAT: INPUT_FLOAT, SIGNATURE_BYTES: INPUT_BYTES}
FORMS = ("instances", "inputs")


class ServingError(RuntimeError):
    """The server answered with an error (its message is kept as it is)."""


def rest_url(
    server: str, model_name: str = "purifier", version: int | None = None, verb: str = "predict"
) -> str:
    """``http://host:8501/v1/models/<name>[/versions/<v>]:predict``."""
    url = f"{server.rstrip('/')}/v1/models/{model_name}"
    if version is not None:
        url += f"/versions/{int(version)}"
    return f"{url}:{verb}" if verb else url


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def rest_payload(
    images: np.ndarray, signature_name: str | None = None, form: str = "instances"
) -> dict[str, Any]:
    """JSON payload for an image batch: uint8 -> ``serving_default``, float -> ``predict_float``.

    ``instances`` is the row format (a list with one (H, W, 3) nested list per image); ``inputs`` is
    the columnar format (the whole (N, H, W, 3) batch as one nested list).
    """
    _check_form(form)
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[np.newaxis]
    if signature_name is None:
        signature_name = SIGNATURE_UINT8 if images.dtype == np.uint8 else SIGNATURE_FLOAT
    if signature_name == SIGNATURE_UINT8:
        values = images.astype(np.uint8).tolist()
    else:
        values = images.astype(np.float32).tolist()
    if form == "instances":
        return {"signature_name": signature_name, "instances": values}
    return {"signature_name": signature_name, "inputs": {INPUT_NAMES.get(signature_name, INPUT_UINT8): values}}


def rest_bytes_payload(
    encoded: Sequence[bytes], signature_name: str = SIGNATURE_BYTES, form: str = "instances"
) -> dict[str, Any]:
    """JSON payload for encoded JPEG/PNG images: each as ``{"b64": <base64>}`` (images may differ
    in size: ``predict_bytes`` processes them one by one)."""
    _check_form(form)
    values = [{"b64": base64.b64encode(bytes(e)).decode("ascii")} for e in encoded]
    if form == "instances":
        return {"signature_name": signature_name, "instances": values}
    return {"signature_name": signature_name, "inputs": {INPUT_BYTES: values}}


def _decode_values(value: Any) -> Any:
    """Replace ``{"b64": ...}`` leaves by bytes, recursively."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        return {k: _decode_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_values(v) for v in value]
    return value


def _to_numpy(value: Any, dtype: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], (bytes, bytearray)):
        return list(value)
    array = np.asarray(value)
    if dtype is None:  # JSON has no dtype: integers are pixels (uint8), anything else float32
        dtype = np.uint8 if np.issubdtype(array.dtype, np.integer) else np.float32
    return array.astype(dtype)


def parse_rest_response(
    body: str | bytes | dict, dtype: Any = None, output_name: str | None = None
) -> Any:
    """Predictions of a REST response as NumPy.

    Returns an array (``dtype``: default uint8 for integer outputs, float32 for floats) or, for
    ``*_bytes`` outputs, a list of ``bytes``. A response with several named outputs gives a dict
    unless ``output_name`` picks one. ``{"error": ...}`` raises ``ServingError``.
    """
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    if "error" in body:
        raise ServingError(str(body["error"]))
    if "predictions" in body:
        values = _decode_values(body["predictions"])
        if values and isinstance(values[0], dict):  # row format, several outputs
            values = {k: [row[k] for row in values] for k in values[0]}
    elif "outputs" in body:
        values = _decode_values(body["outputs"])
    else:
        raise ServingError(f"response has neither 'predictions' nor 'outputs': keys {sorted(body)}")
    if isinstance(values, dict):
        if output_name is not None:
            return _to_numpy(values[output_name], dtype)
        return {k: _to_numpy(v, dtype) for k, v in values.items()}
    return _to_numpy(values, dtype)


def decode_png_list(encoded: Sequence[bytes]) -> list[np.ndarray]:
    """Decode ``predict_bytes`` outputs (PNG) to RGB uint8 arrays."""
    import cv2

    images = []
    for data in encoded:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ServingError("the server returned bytes that are not a decodable image")
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return images


def post_json(url: str, payload: dict, timeout: float = 60.0) -> dict:
    """POST ``payload`` and return the decoded JSON answer (HTTP errors raise ServingError)."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            message = json.loads(body).get("error", body)
        except ValueError:
            message = body
        raise ServingError(f"{url}: HTTP {exc.code}: {message}") from exc
    except urllib.error.URLError as exc:
        raise ServingError(f"cannot reach {url}: {exc.reason}") from exc


def _serving_apis() -> Any:
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "gRPC needs the tensorflow-serving-api package: pip install 'tensorflow-serving-api==2.21.*'"
        ) from exc
    return predict_pb2


def grpc_request(
    images: Any,
    model_name: str = "purifier",
    signature_name: str | None = None,
    version: int | None = None,
) -> Any:
    """A ``PredictRequest`` for an image batch (uint8 or float32 NHWC) or a list of encoded bytes."""
    import tensorflow as tf

    predict_pb2 = _serving_apis()
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (bytes, bytearray)):
        signature_name = signature_name or SIGNATURE_BYTES
        tensor = tf.make_tensor_proto([bytes(b) for b in images], dtype=tf.string)
    else:
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[np.newaxis]
        if signature_name is None:
            signature_name = SIGNATURE_UINT8 if array.dtype == np.uint8 else SIGNATURE_FLOAT
        dtype = np.uint8 if signature_name == SIGNATURE_UINT8 else np.float32
        tensor = tf.make_tensor_proto(array.astype(dtype))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT_NAMES.get(signature_name, INPUT_UINT8)].CopyFrom(tensor)
    return request


def parse_grpc_response(response: Any, output_name: str | None = None) -> Any:
    """Outputs of a ``PredictResponse`` as NumPy (string outputs as a list of bytes)."""
    import tensorflow as tf

    if output_name is None:
        if len(response.outputs) != 1:
            return {k: parse_grpc_response(response, k) for k in response.outputs}
        output_name = next(iter(response.outputs))
    array = tf.make_ndarray(response.outputs[output_name])
    if array.dtype == object:
        return [bytes(v) for v in array.reshape(-1)]
    return array


def predict_grpc(target: str, request: Any, timeout: float = 60.0) -> Any:
    """Send ``request`` to ``host:port`` (TF Serving's gRPC port, 8500 by default)."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 1 << 30)]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            return stub.Predict(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise ServingError(f"{target}: {exc.code().name}: {exc.details()}") from exc


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m export.serving_client", description="Purify one image with a TF Serving purifier."
    )
    parser.add_argument("--url", default="http://localhost:8501", help="REST server (http://host:port).")
    parser.add_argument("--grpc", default=None, help="gRPC host:port; when given, gRPC is used instead of REST.")
    parser.add_argument("--model_name", default="purifier", help="Served model name.")
    parser.add_argument("--version", type=int, default=None, help="Model version (default: latest).")
    parser.add_argument("--image", required=True, help="Input image file (JPEG/PNG).")
    parser.add_argument("--output", required=True, help="Where to write the purified PNG.")
    args = parser.parse_args(argv)

    from purify_tf.atomic import atomic_write_bytes

    encoded = Path(args.image).read_bytes()
    try:
        if args.grpc:
            request = grpc_request([encoded], args.model_name, SIGNATURE_BYTES, args.version)
            outputs = parse_grpc_response(predict_grpc(args.grpc, request))
        else:
            body = post_json(rest_url(args.url, args.model_name, args.version), rest_bytes_payload([encoded]))
            outputs = parse_rest_response(body, output_name=OUTPUT_BYTES)
    except ServingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    atomic_write_bytes(args.output, outputs[0])
    print(f"purified image written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
