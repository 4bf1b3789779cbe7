"""The papers' models; importing this package registers each one in ``MODELS``."""

from mtmc.reid.modeling.meta_arch import anet  # noqa: F401
from mtmc.reid.modeling.meta_arch import glamor  # noqa: F401
from mtmc.reid.modeling.meta_arch import pgan  # noqa: F401
from mtmc.reid.modeling.meta_arch import val  # noqa: F401
