"""REST/gRPC payloads, and parsing of responses produced by running the SavedModel in-process."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import tensorflow as tf
from model_helpers import random_images

from export import serving_client as sc


def _serve_rest(loaded, payload: dict) -> dict:
    """What TF Serving's REST endpoint does: JSON -> tensor -> signature -> JSON."""
    signature = loaded.signatures[payload.get("signature_name", "serving_default")]
    (name, spec), = signature.structured_input_signature[1].items()
    rows = "instances" in payload
    values = payload["instances"] if rows else payload["inputs"][name]
    values = sc._decode_values(values)
    tensor = tf.constant(values if spec.dtype != tf.string else [bytes(v) for v in values], spec.dtype)
    (out_name, out), = signature(**{name: tensor}).items()
    array = out.numpy()
    if out_name.endswith("_bytes"):
        listed = [{"b64": base64.b64encode(v).decode()} for v in array]
    else:
        listed = array.tolist()
    return json.loads(json.dumps({"predictions" if rows else "outputs": listed}))


def test_rest_payload_forms():
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    rows = sc.rest_payload(images)
    assert rows["signature_name"] == "serving_default"
    assert np.array_equal(np.array(rows["instances"]), images)
    cols = sc.rest_payload(images.astype(np.float32), form="inputs")
    assert cols["signature_name"] == "predict_float"
    assert np.array_equal(np.array(cols["inputs"]["images"]), images)
    single = sc.rest_payload(images[0])
    assert np.array(single["instances"]).shape == (1, 4, 4, 3)
    b = sc.rest_bytes_payload([b"\x89PNG", b"\xff\xd8"])
    assert b == {"signature_name": "predict_bytes", "instances": [{"b64": "iVBORw=="}, {"b64": "/9g="}]}
    assert sc.rest_bytes_payload([b"x"], form="inputs")["inputs"] == {"images_bytes": [{"b64": "eA=="}]}
    with pytest.raises(ValueError, match="form"):
        sc.rest_payload(images, form="rows")
    json.dumps(rows), json.dumps(b)  # serialisable as they are
    assert sc.rest_url("http://h:8501/", "purifier", 3) == "http://h:8501/v1/models/purifier/versions/3:predict"


def test_parse_rest_errors_and_multi_outputs():
    with pytest.raises(sc.ServingError, match="boom"):
        sc.parse_rest_response('{"error": "boom"}')
    out = sc.parse_rest_response({"predictions": [{"a": 1, "b": {"b64": "eA=="}}, {"a": 2, "b": {"b64": "eQ=="}}]})
    assert out["a"].tolist() == [1, 2] and out["b"] == [b"x", b"y"]
    assert sc.parse_rest_response({"outputs": [[1.5]]}).dtype == np.float32


@pytest.mark.parametrize("form", sc.FORMS)
def test_rest_roundtrip_uint8_float_bytes(keras_model_file, loaded_saved_model, form):
    images = random_images(2, 36, 60, seed=7)
    expected = loaded_saved_model.signatures["serving_default"](images=tf.constant(images))["images"].numpy()
    got = sc.parse_rest_response(_serve_rest(loaded_saved_model, sc.rest_payload(images, form=form)))
    assert got.dtype == np.uint8 and np.array_equal(got, expected)
    got_f = sc.parse_rest_response(
        _serve_rest(loaded_saved_model, sc.rest_payload(images.astype(np.float32), form=form))
    )
    assert got_f.dtype == np.float32 and np.abs(got_f - expected).max() <= 1.0
    encoded = [tf.io.encode_png(im).numpy() for im in images]
    body = _serve_rest(loaded_saved_model, sc.rest_bytes_payload(encoded, form=form))
    decoded = sc.decode_png_list(sc.parse_rest_response(body))
    assert np.array_equal(np.stack(decoded), expected)


def test_grpc_roundtrip(loaded_saved_model):
    pytest.importorskip("tensorflow_serving")
    from tensorflow_serving.apis import predict_pb2

    images = random_images(1, 40, 44, seed=8)
    request = sc.grpc_request(images, model_name="purifier", version=2)
    assert request.model_spec.name == "purifier" and request.model_spec.version.value == 2
    assert request.model_spec.signature_name == "serving_default"
    tensor = tf.make_ndarray(request.inputs["images"])
    assert tensor.dtype == np.uint8 and np.array_equal(tensor, images)
    outputs = loaded_saved_model.signatures["serving_default"](images=tf.constant(tensor))
    response = predict_pb2.PredictResponse()
    response.outputs["images"].CopyFrom(tf.make_tensor_proto(outputs["images"].numpy()))
    assert np.array_equal(sc.parse_grpc_response(response), outputs["images"].numpy())

    encoded = [tf.io.encode_jpeg(images[0]).numpy()]
    request = sc.grpc_request(encoded)
    assert request.model_spec.signature_name == "predict_bytes"
    data = tf.make_ndarray(request.inputs["images_bytes"])
    outputs = loaded_saved_model.signatures["predict_bytes"](images_bytes=tf.constant(data))
    response = predict_pb2.PredictResponse()
    response.outputs["png_bytes"].CopyFrom(tf.make_tensor_proto(outputs["png_bytes"].numpy()))
    (png,) = sc.parse_grpc_response(response)
    assert sc.decode_png_list([png])[0].shape == (40, 44, 3)


def test_cli_reports_unreachable_server(tmp_path, capsys):
    image = tmp_path / "eye.png"
    image.write_bytes(tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy())
    code = sc._main(["--url=http://127.0.0.1:9", f"--image={image}", f"--output={tmp_path / 'o.png'}"])
    assert code == 1 and "cannot reach" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
