"""The papers' models; importing this package registers each one in ``MODELS``."""
