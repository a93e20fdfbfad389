"""Models, registered by name (explicit imports fill the registry)."""

from brandmatch.models.base import MODELS, AccountInfo, Ranker, create, load_model, register  # noqa: F401
from brandmatch.models import cosine, miv, oracle, rand  # noqa: F401,E402
from brandmatch.models import morning  # noqa: F401,E402
from brandmatch.models import hptr, mir  # noqa: F401,E402  (MIR and its representation's triplet baseline)
from brandmatch.models import camera, catr  # noqa: F401,E402  (CAMERA and its concept-representation baseline)
from brandmatch.models import knn, lambdarank, tuned_cosine  # noqa: F401,E402  (practitioner baselines)
