"""Models, registered by name (explicit imports fill the registry)."""

from brandmatch.models.base import MODELS, AccountInfo, Ranker, create, load_model, register  # noqa: F401
from brandmatch.models import cosine, miv, oracle, rand  # noqa: F401,E402
from brandmatch.models import morning  # noqa: F401,E402
