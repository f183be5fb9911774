"""Browser tests reuse the registry's model and data fixtures."""

from tests.assets.conftest import digits_cnn_bytes, digits_eval  # noqa: F401
