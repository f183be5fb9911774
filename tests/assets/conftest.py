"""Registry fixtures: small real models exported the way users are told to (TorchScript, skops, ONNX), data files,
and a local HTTP model server."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from workers.engine import demo
from workers.engine.data import builtin_dataset


@pytest.fixture(scope="session")
def digits_cnn_bytes(tmp_path_factory) -> bytes:
    """An (untrained, tiny) digits CNN saved with torch.jit.save: 1×8×8 inputs, 10 classes."""
    import torch

    torch.manual_seed(0)
    module = demo._digits_cnn_class()(width=4)
    path = demo.save_torchscript(module, tmp_path_factory.mktemp("models") / "digits.pt")
    return path.read_bytes()


@pytest.fixture(scope="session")
def cancer_logreg_bytes(tmp_path_factory) -> bytes:
    path = demo.save_skops(demo.train_cancer_logreg(seed=0), tmp_path_factory.mktemp("models") / "cancer.skops")
    return path.read_bytes()


@pytest.fixture(scope="session")
def cancer_onnx_bytes() -> bytes:
    """A logistic regression over 30 features as a hand-built ONNX graph (MatMul → Add → Softmax)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(size=(30, 2)).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits_raw"]),
         helper.make_node("Add", ["logits_raw", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "cancer_logreg",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 30])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def digits_eval():
    return builtin_dataset("digits")["evaluation"]


@pytest.fixture(scope="session")
def digits_npz_bytes(digits_eval) -> bytes:
    x, y = digits_eval
    return npz_bytes(x=x, y=y)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture
def digits_model_server(digits_cnn_bytes, tmp_path):
    """The digits CNN behind a local JSON prediction API; yields (url, received Authorization headers)."""
    import torch

    path = tmp_path / "served.pt"
    path.write_bytes(digits_cnn_bytes)
    module = torch.jit.load(str(path)).eval()
    seen_auth = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return None

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen_auth.append(self.headers.get("Authorization"))
            with torch.no_grad():
                logits = module(torch.tensor(body["inputs"], dtype=torch.float32))
            data = json.dumps({"probabilities": torch.softmax(logits, dim=1).tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict", seen_auth
    server.shutdown()
    server.server_close()
