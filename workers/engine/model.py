"""ModelHandle: a loaded model with the views ART needs (logits, probabilities, labels) and a query count."""

from __future__ import annotations

import abc
import contextlib
import copy
import ipaddress
import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlparse

import numpy as np

from workers.engine import art_compat
from workers.engine.types import CheckSkipped, QueryBudgetExceeded

PREDICT_BATCH = 512


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def _counting_subclass(base: type, handle: ModelHandle) -> type:
    """An ART estimator class that adds every predicted / differentiated sample to handle.queries."""

    def predict(self, x, *args, **kwargs):
        handle.queries += len(x)
        return base.predict(self, x, *args, **kwargs)

    def loss_gradient(self, x, y, *args, **kwargs):
        handle.queries += len(x)
        return base.loss_gradient(self, x, y, *args, **kwargs)

    def class_gradient(self, x, *args, **kwargs):
        handle.queries += len(x)
        return base.class_gradient(self, x, *args, **kwargs)

    attrs: dict[str, Any] = {"predict": predict, "loss_gradient": loss_gradient}
    if hasattr(base, "class_gradient"):
        attrs["class_gradient"] = class_gradient
    if hasattr(base, "loss_gradient_framework"):

        def loss_gradient_framework(self, x, y, *args, **kwargs):
            handle.queries += int(x.shape[0])
            return base.loss_gradient_framework(self, x, y, *args, **kwargs)

        attrs["loss_gradient_framework"] = loss_gradient_framework
    return type(f"Counting{base.__name__}", (base,), attrs)


class ModelHandle(abc.ABC):
    """A loaded model plus its metadata. Subclasses implement one framework each."""

    framework: str = ""
    white_box: bool = False
    label_only: bool = False

    def __init__(
        self,
        *,
        input_shape: tuple,
        nb_classes: int,
        clip_values: tuple[float, float],
        preprocessing: tuple | None = None,
        device: str = "cpu",
        sha256: str | None = None,
    ) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        self.nb_classes = int(nb_classes)
        self.clip_values = (float(clip_values[0]), float(clip_values[1]))
        if self.clip_values[0] >= self.clip_values[1]:
            raise ValueError(f"clip_values must be (min, max) with min < max, got {self.clip_values}")
        self.preprocessing = preprocessing
        self.device = device
        self.sha256 = sha256
        self.queries = 0
        self._lock = threading.Lock()

    # -- metadata -------------------------------------------------------------------------
    @property
    def task(self) -> str:
        return "image" if len(self.input_shape) == 3 else "tabular"

    def describe(self) -> dict:
        """JSON-ready description of the model as the engine sees it (recorded with every result)."""
        mean_std = None
        if self.preprocessing is not None:
            mean_std = [np.asarray(v, dtype=float).tolist() for v in self.preprocessing]
        return {
            "framework": self.framework,
            "input_shape": list(self.input_shape),
            "nb_classes": self.nb_classes,
            "clip_values": list(self.clip_values),
            "preprocessing": mean_std,
            "device": self.device,
            "white_box": self.white_box,
            "label_only": self.label_only,
            "sha256": self.sha256,
        }

    def reset_queries(self) -> None:
        self.queries = 0

    def _count(self, n: int) -> None:
        with self._lock:
            self.queries += int(n)

    def _check_batch(self, x: np.ndarray) -> np.ndarray:
        x = art_compat.as_float32(x)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"inputs have per-sample shape {tuple(x.shape[1:])}, the model expects {self.input_shape}"
            )
        return x

    def _normalize(self, x: np.ndarray) -> np.ndarray:
        if self.preprocessing is None:
            return x
        mean, std = (np.asarray(v, dtype=np.float32) for v in self.preprocessing)
        return ((x - mean) / std).astype(np.float32)

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = self._check_batch(x)
        self._count(len(x))
        if len(x) == 0:
            return np.zeros((0, self.nb_classes), dtype=np.float32)
        out = self._predict_proba(x)
        return np.asarray(out, dtype=np.float32)

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(x), axis=1).astype(np.int64)

    @abc.abstractmethod
    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for a validated float32 batch; each framework answers it its own way."""

    # -- ART views ------------------------------------------------------------------------
    def logits_classifier(self):
        raise CheckSkipped(f"a {self.framework} model gives no gradients (black-box access only)")

    def proba_classifier(
        self, *, label_only: bool = False, rounding: int | None = None, query_limit: int | None = None
    ):
        """ART black-box view on probabilities (or one-hot labels), counting queries through predict_proba.

        query_limit caps the samples this view may predict; past it, QueryBudgetExceeded is raised.
        """
        from art.estimators.classification import BlackBoxClassifierNeuralNetwork

        spent = [0]

        def predict_fn(x: np.ndarray) -> np.ndarray:
            if query_limit is not None and spent[0] + len(x) > query_limit:
                raise QueryBudgetExceeded(f"the attack's budget of {query_limit} queries is spent")
            spent[0] += len(x)
            probabilities = self.predict_proba(x)
            if label_only:
                return art_compat.label_only_output(probabilities)
            if rounding is not None:
                return art_compat.rounded_output(probabilities, rounding)
            return probabilities

        return BlackBoxClassifierNeuralNetwork(
            predict_fn,
            input_shape=self.input_shape,
            nb_classes=self.nb_classes,
            channels_first=True,
            clip_values=self.clip_values,
        )

    def torch_module(self):
        raise CheckSkipped(f"a {self.framework} model is not a torch module")

    @contextlib.contextmanager
    def inference_only(self):
        """While attacking, compute gradients for the inputs only (see TorchModelHandle)."""
        yield

    def trainable_copy(self) -> ModelHandle:
        raise CheckSkipped(f"a {self.framework} model cannot be copied and retrained by the engine")

    def fit(
        self, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 64, lr: float = 1e-3, seed: int
    ) -> None:
        raise CheckSkipped(f"a {self.framework} model cannot be trained by the engine")

    def penultimate(self, x: np.ndarray) -> np.ndarray:
        raise CheckSkipped(f"a {self.framework} model exposes no internal activations")

    def _metadata(self) -> dict:
        return {
            "input_shape": self.input_shape,
            "nb_classes": self.nb_classes,
            "clip_values": self.clip_values,
            "preprocessing": self.preprocessing,
            "device": self.device,
        }


class TorchModelHandle(ModelHandle):
    """A TorchScript (or plain torch) classifier returning logits; full white-box access."""

    framework = "torch"
    white_box = True

    def __init__(self, module, **kwargs) -> None:
        import torch

        super().__init__(**kwargs)
        self._torch_device = torch.device(self.device)
        self._raw = module.to(self._torch_device).eval()
        self._logits = art_compat.float32_entrance(self._raw)
        self._classifier = None

    def _normalizing_module(self):
        import torch

        if self.preprocessing is None:
            return self._logits
        mean, std = (
            torch.as_tensor(np.asarray(v, dtype=np.float32), device=self._torch_device)
            for v in self.preprocessing
        )
        logits = self._logits

        class Normalized(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = logits
                self.register_buffer("mean", mean)
                self.register_buffer("std", std)

            def forward(self, x):
                return self.inner((x.float() - self.mean) / self.std)

        return Normalized()

    def _forward_logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = self._normalize(x)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(x), PREDICT_BATCH):
                batch = torch.from_numpy(x[start : start + PREDICT_BATCH]).to(self._torch_device)
                chunks.append(self._logits(batch).float().cpu().numpy())
        return np.concatenate(chunks)

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        return _softmax(self._forward_logits(x))

    def logits_classifier(self):
        if self._classifier is None:
            import torch
            from art.estimators.classification import PyTorchClassifier

            if self._torch_device.type == "cuda":
                torch.cuda.set_device(self._torch_device)
            cls = _counting_subclass(PyTorchClassifier, self)
            self._classifier = cls(
                model=self._logits,
                loss=torch.nn.CrossEntropyLoss(),
                input_shape=self.input_shape,
                nb_classes=self.nb_classes,
                clip_values=self.clip_values,
                preprocessing=self.preprocessing if self.preprocessing is not None else (0.0, 1.0),
                device_type="gpu" if self._torch_device.type == "cuda" else "cpu",
            )
        return self._classifier

    def torch_module(self):
        return self._normalizing_module()

    @contextlib.contextmanager
    def inference_only(self):
        """Freeze the weights while attacking.

        ART's loss_gradient calls loss.backward(), which also computes every weight gradient
        when the parameters require grad: about half the time of an attack, for gradients
        nobody reads. The input gradient is the same either way.
        """
        parameters = list(self._raw.parameters())
        previous = [p.requires_grad for p in parameters]
        for parameter in parameters:
            parameter.requires_grad_(False)
        try:
            yield
        finally:
            for parameter, flag in zip(parameters, previous):
                parameter.requires_grad_(flag)

    def trainable_copy(self) -> TorchModelHandle:
        import torch

        # deepcopy of a ScriptModule whose parameters require grad yields non-leaf tensors
        # ("can't optimize a non-leaf Tensor"); copying under no_grad keeps them leaves.
        with torch.no_grad():
            module = copy.deepcopy(self._raw)
        for parameter in module.parameters():
            parameter.requires_grad_(True)
        return TorchModelHandle(module, **self._metadata())

    def fit(
        self, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 64, lr: float = 1e-3, seed: int
    ) -> None:
        import torch

        x = self._normalize(self._check_batch(x))
        y = np.asarray(y, dtype=np.int64)
        generator = torch.Generator().manual_seed(int(seed))
        torch.manual_seed(int(seed))
        x_t = torch.from_numpy(x).to(self._torch_device)
        y_t = torch.from_numpy(y).to(self._torch_device)
        optimizer = torch.optim.Adam(self._raw.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        self._raw.train()
        for _ in range(int(epochs)):
            order = torch.randperm(len(x_t), generator=generator).to(self._torch_device)
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                optimizer.zero_grad()
                loss_fn(self._logits(x_t[index]), y_t[index]).backward()
                optimizer.step()
        self._raw.eval()
        self._classifier = None

    def penultimate(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = self._normalize(self._check_batch(x))
        self._count(len(x))
        feature_fn = self._feature_function()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(x), PREDICT_BATCH):
                batch = torch.from_numpy(x[start : start + PREDICT_BATCH]).to(self._torch_device)
                chunks.append(feature_fn(batch).float().reshape(len(batch), -1).cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)

    def _feature_function(self):
        """A callable returning the input of the last linear layer.

        ScriptModules refuse forward hooks, so for them the frozen graph is cut at the
        last ``aten::linear`` node and that node's input becomes the output.
        """
        import torch

        if isinstance(self._raw, torch.jit.ScriptModule):
            frozen = torch.jit.freeze(copy.deepcopy(self._raw).eval())
            graph = frozen.graph.copy()
            linear_nodes = [n for n in graph.nodes() if n.kind() == "aten::linear"]
            if not linear_nodes:
                raise CheckSkipped(
                    "the TorchScript model has no linear layer whose input could serve as activations"
                )
            features = list(linear_nodes[-1].inputs())[0]
            graph.eraseOutput(0)
            graph.registerOutput(features)
            torch._C._jit_pass_dce(graph)
            function = torch._C._create_function_from_graph("penultimate", graph)
            takes_self = len(list(graph.inputs())) == 2
            return (
                (lambda batch: function(frozen._c, batch.float()))
                if takes_self
                else (lambda batch: function(batch.float()))
            )

        linears = [m for m in self._raw.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise CheckSkipped("the model has no nn.Linear layer whose input could serve as activations")

        def run(batch):
            captured = []
            hook = linears[-1].register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
            try:
                self._logits(batch)
            finally:
                hook.remove()
            return captured[-1]

        return run


def sklearn_white_box(estimator) -> bool:
    """Whether ART can differentiate this estimator (linear models and SVMs)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC, LinearSVC

    return isinstance(estimator, (LogisticRegression, LinearSVC)) or (
        isinstance(estimator, SVC) and estimator.probability is False
    )


class SklearnModelHandle(ModelHandle):
    """A scikit-learn classifier on flat feature vectors; white-box for linear models and SVMs."""

    framework = "sklearn"

    def __init__(self, estimator, **kwargs) -> None:
        super().__init__(**kwargs)
        self._estimator = art_compat.sklearn_estimator_for_art(estimator)
        self._classifier = None
        self.white_box = sklearn_white_box(self._estimator) and len(self.input_shape) == 1
        self.label_only = not self._has_proba()

    def _has_proba(self) -> bool:
        from sklearn.svm import SVC

        if isinstance(self._estimator, SVC):
            return self._estimator.probability is True
        return hasattr(self._estimator, "predict_proba")

    def _flat(self, x: np.ndarray) -> np.ndarray:
        return self._normalize(x).reshape(len(x), -1)

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        flat = self._flat(x)
        if self._has_proba():
            return self._estimator.predict_proba(flat)
        labels = np.asarray(self._estimator.predict(flat), dtype=np.int64)
        one_hot = np.zeros((len(labels), self.nb_classes), dtype=np.float32)
        one_hot[np.arange(len(labels)), labels] = 1.0
        return one_hot

    def logits_classifier(self):
        if not self.white_box:
            raise CheckSkipped(f"{type(self._estimator).__name__} gives no gradients (black-box access only)")
        if self._classifier is None:
            from art.estimators.classification.scikitlearn import SklearnClassifier

            plain = SklearnClassifier(
                model=self._estimator,
                clip_values=self.clip_values,
                preprocessing=self.preprocessing if self.preprocessing is not None else (0.0, 1.0),
            )
            cls = _counting_subclass(type(plain), self)
            self._classifier = cls(
                model=self._estimator,
                clip_values=self.clip_values,
                preprocessing=self.preprocessing if self.preprocessing is not None else (0.0, 1.0),
            )
        return self._classifier

    @property
    def estimator(self):
        return self._estimator

    def trainable_copy(self) -> SklearnModelHandle:
        from sklearn.base import clone

        return SklearnModelHandle(clone(self._estimator), **self._metadata())

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int = 1,
        batch_size: int = 64,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        params = self._estimator.get_params()
        if "random_state" in params:
            self._estimator.set_params(random_state=int(seed))
        self._estimator.fit(self._flat(self._check_batch(x)), np.asarray(y, dtype=np.int64))
        self._classifier = None


class OnnxModelHandle(ModelHandle):
    """An ONNX classifier run by onnxruntime; black-box (probabilities, or softmax of its logits)."""

    framework = "onnx"

    def __init__(self, session, *, output_index: int, outputs_probabilities: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self._session = session
        meta = session.get_inputs()[0]
        self._input_name = meta.name
        self._input_dtype = np.float64 if "double" in meta.type else np.float32
        first_dim = meta.shape[0] if meta.shape else None
        self._fixed_batch = first_dim if isinstance(first_dim, int) and first_dim > 0 else None
        self._flat_input = len(meta.shape or []) == 2 and len(self.input_shape) != 1
        self._output_index = output_index
        self._outputs_probabilities = outputs_probabilities

    def _run(self, x: np.ndarray) -> np.ndarray:
        raw = self._session.run(None, {self._input_name: x.astype(self._input_dtype)})[self._output_index]
        return onnx_output_matrix(raw)

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = self._normalize(x)
        if self._flat_input:
            x = x.reshape(len(x), -1)
        step = self._fixed_batch or PREDICT_BATCH
        scores = np.concatenate([self._run(x[start : start + step]) for start in range(0, len(x), step)])
        return scores if self._outputs_probabilities else _softmax(scores)


def onnx_output_matrix(raw) -> np.ndarray:
    """An ONNX output as an (N, C) float matrix; sklearn-onnx's list of {class: probability} maps included."""
    if isinstance(raw, list) and raw and isinstance(raw[0], dict):
        keys = sorted(raw[0])
        return np.array([[row[k] for k in keys] for row in raw], dtype=np.float32)
    matrix = np.asarray(raw, dtype=np.float32)
    return matrix.reshape(len(matrix), -1)


def looks_like_probabilities(scores: np.ndarray) -> bool:
    return (
        bool(scores.size)
        and bool(np.all(scores >= -1e-6))
        and bool(np.allclose(scores.sum(axis=1), 1.0, atol=1e-3))
    )


class EndpointError(RuntimeError):
    """The prediction endpoint failed, answered malformed JSON, or its address is not allowed."""


def check_endpoint_address(url: str, *, allow_private: bool) -> None:
    """Refuse non-HTTP URLs and, unless allowed, hosts resolving to loopback/private/link-local addresses."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise EndpointError(f"endpoint URL must be http(s)://host/..., got {url!r}")
    if allow_private:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise EndpointError(f"endpoint host {parsed.hostname!r} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
            or not address.is_global  # shared (100.64/10), benchmarking and other non-routable ranges
        ):
            raise EndpointError(
                f"endpoint host {parsed.hostname!r} resolves to the non-public address {address}; refused"
            )


ENDPOINT_DEFAULTS = {
    "headers": {},
    "input_key": "inputs",
    "output_key": "probabilities",
    "output_kind": "probabilities",
    "timeout_s": 10.0,
    "query_budget": 20000,
    "rate_limit_per_s": 0.0,
    "batch_size": 64,
    "max_response_bytes": 8 * 1024 * 1024,
    "allow_private": False,
}


class EndpointModelHandle(ModelHandle):
    """A remote model behind an HTTP JSON prediction API; black-box, with a query budget and rate limit."""

    framework = "endpoint"

    def __init__(self, endpoint: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        unknown = set(endpoint) - set(ENDPOINT_DEFAULTS) - {"url"}
        if unknown:
            raise ValueError(f"unknown endpoint settings: {', '.join(sorted(unknown))}")
        self.endpoint = {**ENDPOINT_DEFAULTS, **endpoint}
        if self.endpoint["output_kind"] not in ("probabilities", "labels"):
            raise ValueError("endpoint output_kind must be 'probabilities' or 'labels'")
        self.label_only = self.endpoint["output_kind"] == "labels"
        self.query_budget = int(self.endpoint["query_budget"])
        self.requests_made = 0
        self._last_request = 0.0
        check_endpoint_address(self.endpoint["url"], allow_private=bool(self.endpoint["allow_private"]))
        import requests

        self._http = requests.Session()
        self._http.trust_env = False

    def describe(self) -> dict:
        out = super().describe()
        # The headers carry credentials: never recorded.
        out["endpoint"] = {k: v for k, v in self.endpoint.items() if k != "headers"}
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = self._check_batch(x)
        if self.queries + len(x) > self.query_budget:
            raise QueryBudgetExceeded(
                f"{len(x)} more queries would exceed the endpoint's budget of {self.query_budget} "
                f"({self.queries} used)"
            )
        return super().predict_proba(x)

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = self._normalize(x)
        step = max(1, int(self.endpoint["batch_size"]))
        return np.concatenate([self._request(x[start : start + step]) for start in range(0, len(x), step)])

    def _request(self, batch: np.ndarray) -> np.ndarray:
        import requests

        rate = float(self.endpoint["rate_limit_per_s"] or 0.0)
        if rate > 0:
            wait = self._last_request + 1.0 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        check_endpoint_address(self.endpoint["url"], allow_private=bool(self.endpoint["allow_private"]))
        self._last_request = time.monotonic()
        self.requests_made += 1
        limit = int(self.endpoint["max_response_bytes"])
        try:
            with self._http.post(
                self.endpoint["url"],
                json={self.endpoint["input_key"]: batch.tolist()},
                headers=dict(self.endpoint["headers"] or {}),
                timeout=float(self.endpoint["timeout_s"]),
                allow_redirects=False,
                stream=True,
            ) as response:
                if response.is_redirect or not 200 <= response.status_code < 300:
                    raise EndpointError(
                        f"endpoint answered HTTP {response.status_code}; expected 2xx without redirect"
                    )
                body = bytearray()
                for chunk in response.iter_content(65536):
                    body.extend(chunk)
                    if len(body) > limit:
                        raise EndpointError(f"endpoint response exceeds {limit} bytes; refused")
        except requests.RequestException as exc:
            raise EndpointError(f"endpoint request failed: {exc}") from exc
        try:
            payload = json.loads(bytes(body))
            values = payload[self.endpoint["output_key"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise EndpointError(
                f"endpoint response is not a JSON object with key {self.endpoint['output_key']!r}"
            ) from exc
        return self._to_scores(values, len(batch))

    def _to_scores(self, values, expected: int) -> np.ndarray:
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EndpointError("endpoint output is not numeric") from exc
        if self.label_only:
            labels = array.reshape(-1)
            if (
                len(labels) != expected
                or not np.all(np.isfinite(labels))
                or np.any(labels != np.round(labels))
            ):
                raise EndpointError(
                    f"endpoint returned {len(labels)} labels for {expected} inputs, or non-integer labels"
                )
            labels = labels.astype(np.int64)
            if labels.min(initial=0) < 0 or labels.max(initial=0) >= self.nb_classes:
                raise EndpointError(f"endpoint returned a label outside 0..{self.nb_classes - 1}")
            one_hot = np.zeros((expected, self.nb_classes), dtype=np.float32)
            one_hot[np.arange(expected), labels] = 1.0
            return one_hot
        if self.nb_classes == 0 and array.ndim == 2 and array.shape[1] >= 2:
            self.nb_classes = int(array.shape[1])
        if array.shape != (expected, self.nb_classes) or not np.all(np.isfinite(array)):
            raise EndpointError(
                f"endpoint returned probabilities of shape {array.shape}, "
                f"expected ({expected}, {self.nb_classes})"
            )
        return array.astype(np.float32)
