"""The REST API (FastAPI, under ``/api``) and the web app (static assets at ``/``), one process.

``create_app(recommender, token=None, limits=Limits())`` wraps a
:class:`~brandmatch.serving.recommend.Recommender`:

==========================================  =========================================================
GET  /api/health                            liveness (never needs the token)
GET  /api/version                           package, model and dataset
GET  /api/brands?q=&limit=                  brand search;  /api/influencers?q=&limit= likewise
GET  /api/brands/{id}                       one brand's account info;  /api/influencers/{id}
GET  /api/brands/{id}/recommendations       top-k with filters: k, min_followers, max_followers,
                                            category (repeatable), min_engagement, include_partners
GET  /api/influencers/{id}/similar          influencers like this one (same filters)
GET  /api/brands/{bid}/explain/{iid}        one pair: score, per-view parts, evidence
POST /api/recommendations                   a new brand's profile (captions, bio, optional images)
POST /api/admin/reload                      load the model again (``loader``) and swap it in; needs the token
==========================================  =========================================================

Errors are JSON ``{"error": "<one line>"}`` with a 4xx code: unknown account 404, bad parameters
422 (k outside 1..limits.max_k, malformed profile), oversized body 413, missing or wrong bearer
token 401 (when ``token`` or the environment variable ``BRANDMATCH_API_TOKEN`` is set), new-brand
requests without the featurizer 501. Responses are strict JSON (NaN and infinities become null).
OpenAPI docs at ``/api/docs``. The web app's assets live in ``brandmatch/serving/web/``; they need
no network (no CDN, no build step).
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import importlib
import importlib.util
import json
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from fastapi import APIRouter, Depends, FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brandmatch import __version__
from brandmatch.atomic import finite_or_null, strict_json
from brandmatch.errors import BrandmatchError
from brandmatch.serving.recommend import Recommendation

API_VERSION = "1"
TOKEN_ENV = "BRANDMATCH_API_TOKEN"
WEB_DIR = Path(__file__).resolve().parent / "web"
#: the web page loads nothing but this server's own files (inline style attributes draw the bars)
WEB_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}


@dataclass(frozen=True)
class Limits:
    """Request limits of the API (sizes in bytes)."""

    max_k: int = 500
    max_body_bytes: int = 32 * 2**20
    max_captions: int = 2000
    max_caption_chars: int = 5000
    max_bio_chars: int = 2000
    max_images: int = 32
    max_image_bytes: int = 8 * 2**20
    max_query_chars: int = 200
    max_search_limit: int = 100


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with HTTP ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class StrictJSONResponse(JSONResponse):
    """JSON response with NaN / infinities as null (RFC 8259 strict)."""

    def render(self, content: Any) -> bytes:
        try:  # no NaN / infinity anywhere (the usual case): the same text without the copy
            return json.dumps(content, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except ValueError:
            return strict_json(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except TypeError:  # numpy scalars / arrays somewhere: converted to plain values first
            return strict_json(_plain(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> StrictJSONResponse:
    return StrictJSONResponse({"error": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------- response models


class _Open(BaseModel):
    """A record whose extra keys (from the recommender) pass through."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    error: str = Field(description="one-line message")


class HealthOut(BaseModel):
    status: str = "ok"


class VersionOut(_Open):
    brandmatch: str
    api: str
    model: str | None = None
    dataset: str | None = None


class AccountOut(_Open):
    """An account's info as the recommender gives it (id, handle, category, followers, bio, ...)."""

    id: str
    handle: str | None = None


class SearchOut(BaseModel):
    query: str
    results: list[AccountOut]


class RecommendationOut(BaseModel):
    rank: int
    influencer: str = Field(description="influencer account id")
    handle: str | None = None
    score: float | None = None
    views: dict[str, float | None] = Field(default_factory=dict, description="per-view contributions to the score")
    followers: int | None = None
    engagement_rate: float | None = None
    categories: list[str] = Field(default_factory=list, description="the influencer's known categories")
    evidence: dict[str, Any] = Field(default_factory=dict,
                                     description="top topics / visual concepts of both sides, shared attributes")


class RecommendationsOut(BaseModel):
    brand: AccountOut
    k: int
    filters: dict[str, Any]
    recommendations: list[RecommendationOut]


class SimilarOut(BaseModel):
    influencer: AccountOut
    k: int
    filters: dict[str, Any]
    recommendations: list[RecommendationOut]


class ExplainOut(_Open):
    brand: AccountOut
    influencer: AccountOut
    score: float | None = None
    views: dict[str, float | None] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in ((401, "missing or wrong bearer token"), (404, "unknown account"),
                       (422, "bad parameter"))
}


# ---------------------------------------------------------------- helpers


def _plain(obj: Any) -> Any:
    """numpy scalars / arrays / tuples -> plain JSON values (recursively), non-finite -> None."""
    t = type(obj)
    if t is str or t is int or t is bool or obj is None:  # plain values (fast path, same result)
        return obj
    if t is float:
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _plain(obj.tolist())
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return _plain(obj.item())
        except (TypeError, ValueError):
            pass
    if callable(getattr(obj, "to_dict", None)):
        return _plain(obj.to_dict())
    if hasattr(obj, "__dataclass_fields__"):
        return _plain(asdict(obj))
    return finite_or_null(obj)


def _account(info: Any, fallback_id: str) -> dict[str, Any]:
    """An account record with an ``id`` key (the recommender may call it account_id)."""
    d = _plain(info) if info is not None else {}
    if not isinstance(d, dict):
        d = {"value": d}
    d.setdefault("id", d.get("account_id") or d.get("influencer_id") or d.get("brand_id") or fallback_id)
    d["id"] = str(d["id"])
    return d


def _finite(x: Any) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _direct(content: dict[str, Any]) -> StrictJSONResponse:
    """The hot endpoints' answer, rendered as built: their records are made by :func:`_recommendation`
    and :func:`_account` in the declared shape, so FastAPI's second pass over the response model
    (validation, then a copy to JSON-able values) is skipped; tests/serving/test_api.py checks
    that the body validates against the declared model unchanged."""
    return StrictJSONResponse(content)


def _recommendation(rec: Any) -> dict[str, Any]:
    """A ``Recommendation`` -> the API's shape (influencer, handle, score, views, evidence).

    Its evidence is plain JSON values already (``Recommender.evidence``), so it is passed through
    as is (no second walk per request); anything else goes through :func:`_plain`.
    """
    if type(rec) is Recommendation:
        return {
            "rank": int(rec.rank), "influencer": str(rec.influencer_id), "handle": rec.handle,
            "score": _finite(rec.score), "views": {str(p): _finite(v) for p, v in rec.parts.items()},
            "followers": None if rec.followers is None else int(rec.followers),
            "engagement_rate": _finite(rec.engagement_rate),
            "categories": [str(c) for c in rec.categories], "evidence": rec.evidence or {},
        }
    d = _plain(rec)
    return {
        "rank": int(d.get("rank", 0)),
        "influencer": str(d.get("influencer_id", d.get("influencer", ""))),
        "handle": d.get("handle"),
        "score": d.get("score"),
        "views": d.get("parts", d.get("views")) or {},
        "followers": d.get("followers"),
        "engagement_rate": d.get("engagement_rate"),
        "categories": list(d.get("categories") or []),
        "evidence": d.get("evidence") or {},
    }


_UNKNOWN = re.compile(r"\bunknown (brand|influencer|account)\b|\bis an account of role\b", re.IGNORECASE)


def _serving_status(exc: BrandmatchError) -> int:
    """404 for an unknown account, 422 for any other refused request."""
    status = getattr(exc, "status", None) or getattr(exc, "http_status", None)
    if isinstance(status, int) and 400 <= status < 600:
        return status
    return 404 if _UNKNOWN.search(str(exc)) else 422


def _validation_message(exc: RequestValidationError) -> str:
    """The first validation error as one line: "query parameter 'k': must be >= 1 (got 0)"."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    e = errors[0]
    loc = [str(x) for x in e.get("loc", ())]
    where = {"query": "query parameter", "path": "path parameter", "body": "body field",
             "header": "header"}.get(loc[0] if loc else "", "parameter")
    name = ".".join(loc[1:]) or (loc[0] if loc else "?")
    ctx = e.get("ctx") or {}
    kind = e.get("type", "")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        msg = f"must be {op} {bound}"
    else:
        msg = str(e.get("msg", "invalid")).rstrip(".")
        msg = msg[:1].lower() + msg[1:]
    got = e.get("input")
    tail = f" (got {got})" if isinstance(got, (str, int, float)) and len(str(got)) <= 40 else ""
    more = f"; and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"{where} {name!r}: {msg}{tail}{more}"


class BodyLimit:
    """ASGI middleware: answer 413 to a request body larger than ``max_bytes`` (declared or streamed)."""

    class _TooLarge(Exception):
        pass

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body too large: the limit is {self.max_bytes:,} bytes"
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _error(400, "invalid Content-Length header")(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await _error(413, message)(scope, receive, send)
                    return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyLimit._TooLarge()
            return msg

        async def tracked_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyLimit._TooLarge:
            if not started:
                await _error(413, message)(scope, receive, send)


# ---------------------------------------------------------------- the new-brand featurizer


def _featurizer() -> Any | None:
    """The new-brand featurizer module (``brandmatch.features.transform``), or None when absent."""
    try:
        if importlib.util.find_spec("brandmatch.features.transform") is None:
            return None
    except (ImportError, ValueError):
        return None
    return importlib.import_module("brandmatch.features.transform")


@dataclass
class BrandProfile:
    """A new brand's uploaded profile (validated; images are bytes with their media type)."""

    name: str
    category: str | None
    bio: str
    captions: list[str]
    images: list[tuple[str, str, bytes]]  # (file name as uploaded, media type, bytes)

    @property
    def brand_id(self) -> str:
        """``new:<slug of the name>`` (never an account id of a dataset, which has no colon)."""
        return "new:" + (re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "brand")

    def write(self, directory: Path) -> Path:
        """Write the profile as a folder in the import format of ``brandmatch.data.profile``:
        accounts.csv (the brand), posts.csv (one post per caption / image, newest first), images/.

        File names are chosen here (image000.png, ...), never taken from the client.
        """
        import pandas as pd

        directory.mkdir(parents=True, exist_ok=True)
        images = directory / "images"
        images.mkdir(exist_ok=True)
        refs: list[str | None] = []
        for i, (_, media, data) in enumerate(self.images):
            fname = f"image{i:03d}{IMAGE_TYPES[media]}"
            (images / fname).write_bytes(data)
            refs.append(f"images/{fname}")
        n = max(len(self.captions), len(refs))
        now = int(time.time())
        posts = pd.DataFrame({
            "post_id": [f"{self.brand_id}-p{i:04d}" for i in range(n)],
            "account_id": [self.brand_id] * n,
            "caption": [self.captions[i] if i < len(self.captions) else None for i in range(n)],
            "timestamp": [now - 86400 * i for i in range(n)],
            "likes": [None] * n, "comments": [None] * n,
            "image_ref": [refs[i] if i < len(refs) else None for i in range(n)],
        })
        accounts = pd.DataFrame({"account_id": [self.brand_id], "handle": [self.name], "role": ["brand"],
                                 "category": [self.category], "followers": [None], "bio": [self.bio or None]})
        accounts.to_csv(directory / "accounts.csv", index=False)
        posts.to_csv(directory / "posts.csv", index=False)
        return directory


class NewBrandFeaturizer:
    """Featurizes uploaded brand profiles with the dataset's fitted featurizer (loaded once, lazily).

    Uses ``brandmatch.data.profile.load_brand_profile`` and
    ``brandmatch.features.transform.FittedFeaturizer`` (fitted state in DATA/features/fitted, written
    by ``brandmatch featurize``); answers 501 when either is missing.
    """

    def __init__(self, recommender: Any):
        self.recommender = recommender
        self._fitted: Any = None
        self._lock = threading.Lock()
        self._run = threading.Lock()  # one profile at a time (the image classifier is CPU-heavy)

    def _unavailable(self, why: str) -> ApiError:
        return ApiError(501, f"new-brand recommendations are not available: {why}")

    def available(self) -> bool:
        """Whether the featurizer and the dataset's fitted state are there (nothing is loaded)."""
        transform = _featurizer()
        path = getattr(getattr(self.recommender, "dataset", None), "path", None)
        if self._fitted is not None:
            return True
        if transform is None or path is None or not hasattr(transform, "FittedFeaturizer"):
            return False
        try:
            transform.FittedFeaturizer.features_dir(path)
        except (BrandmatchError, AttributeError):
            return False
        return True

    def fitted(self) -> Any:
        transform = _featurizer()
        if transform is None or not hasattr(transform, "FittedFeaturizer"):
            raise self._unavailable("this installation has no featurizer for new brands "
                                    "(brandmatch.features.transform)")
        with self._lock:
            if self._fitted is None:
                path = getattr(getattr(self.recommender, "dataset", None), "path", None)
                if path is None:
                    raise self._unavailable("the dataset was not loaded from a directory, so there is no "
                                            "fitted featurizer to apply")
                try:
                    self._fitted = transform.FittedFeaturizer.load(path)
                except BrandmatchError as exc:
                    raise self._unavailable(str(exc)) from None
            return self._fitted

    def __call__(self, profile: BrandProfile) -> tuple[Any, str, str | None]:
        """(brand features, brand id, category) of ``profile``."""
        fitted = self.fitted()
        try:
            from brandmatch.data.profile import load_brand_profile
        except ImportError:
            raise self._unavailable("brandmatch.data.profile (the profile reader) is missing") from None
        with self._run, tempfile.TemporaryDirectory(prefix="brandmatch-profile-") as tmp:
            folder = profile.write(Path(tmp) / "profile")
            try:
                tables = load_brand_profile(folder, category=profile.category, brand_id=profile.brand_id)
                features = fitted.transform(tables)
                # one row per view, only the views present for the brand (as serving.profile does)
                features = type(features)({n: v for n, v in features.views.items() if v.mask.any()})
            except BrandmatchError as exc:
                # the messages name files of the private temporary folder: show them as the upload
                raise ApiError(422, str(exc).replace(str(folder.resolve()), "upload")
                               .replace(str(folder), "upload")) from None
        return features, profile.brand_id, profile.category


# ---------------------------------------------------------------- the app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs, from the assets of the ``swagger-ui-bundle-v2`` package when installed
    (no network), else from FastAPI's default CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    assets: dict[str, str] = {}
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    if swagger_ui_path is not None and (Path(swagger_ui_path) / "swagger-ui-bundle.js").is_file():
        app.mount("/api/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
        assets = {"swagger_js_url": "/api/docs-assets/swagger-ui-bundle.js",
                  "swagger_css_url": "/api/docs-assets/swagger-ui.css",
                  "swagger_favicon_url": "/api/docs-assets/favicon-32x32.png"}

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/api/openapi.json",
                                   title="brandmatch API", **assets)



class _Live:
    """The served recommender and its new-brand featurizer, one tuple swapped whole by a reload.

    Every request reads ``current`` once, so a request in flight finishes on the model it began with
    while new requests get the new one (no request is dropped or answered by a mix of both).
    """

    def __init__(self, recommender: Any):
        self.current: tuple[Any, NewBrandFeaturizer] = (recommender, NewBrandFeaturizer(recommender))
        self.lock = threading.Lock()  # one reload at a time


@contextlib.asynccontextmanager
async def _server_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A running server's lifetime (uvicorn runs it; a TestClient only inside ``with``).

    Before the first request: the recommender's lazily built tables (index, part matrices, evidence
    tables: ``prepare()``) are built, and everything loaded so far is frozen out of the cyclic
    garbage collector (``gc.freeze``): otherwise each full collection rescans the model, data and
    libraries, a 150-360 ms pause measured in ``benchmarks/bench_api.py`` (3,748 influencers)
    that set its p99. Unfrozen at shutdown (nothing is kept from collection after the server).
    """
    prepare = getattr(getattr(app.state, "recommender", None), "prepare", None)
    if callable(prepare):
        try:
            prepare()
        except BrandmatchError:  # the request that needs it reports the error
            pass
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def create_app(recommender: Any, *, token: str | None = None, limits: Limits = Limits(),
               web: bool = True, loader: Callable[[], Any] | None = None) -> FastAPI:
    """The FastAPI app around ``recommender`` (a :class:`Recommender`).

    token: the bearer token every ``/api`` call but ``/api/health`` needs; default: the environment
    variable BRANDMATCH_API_TOKEN (unset or empty: no token needed). web: also serve the web app.
    loader: returns a new Recommender (``brandmatch serve``: the model and data directories read
    again); ``POST /api/admin/reload`` and ``app.state.reload()`` swap it in without dropping requests.
    """
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    lock = threading.Lock()  # one model call at a time (torch modules and caches are not shared-safe)

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with lock:
            try:
                return fn(*args, **kwargs)
            except BrandmatchError as exc:
                raise ApiError(_serving_status(exc), str(exc)) from None

    app = FastAPI(
        title="brandmatch", version=__version__,
        description="Recommend micro-influencers for brands (MORNING and baselines). "
                    "Errors are `{\"error\": \"...\"}`; with a token configured, send `Authorization: Bearer <token>`.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
        default_response_class=StrictJSONResponse, lifespan=_server_lifespan,
    )
    live = _Live(recommender)
    app.state.recommender, app.state.featurize = live.current

    def reload() -> dict[str, Any]:
        """Load a new recommender with ``loader`` (its index built) and swap it in; the old one keeps
        serving while it loads and if it fails."""
        if loader is None:
            raise ApiError(501, "this server has no model source to reload from (brandmatch serve sets one)")
        if not live.lock.acquire(blocking=False):
            raise ApiError(409, "a reload is already running")
        try:
            t0 = time.perf_counter()
            old = live.current[0]
            try:
                new = loader()
                getattr(new, "index", None)  # build the influencer index before the swap
            except Exception as exc:  # any failure keeps the old model serving
                raise ApiError(500, f"reload failed, still serving the previous model: "
                                    f"{type(exc).__name__}: {exc}".replace("\n", " ")) from None
            live.current = (new, NewBrandFeaturizer(new))
            app.state.recommender, app.state.featurize = live.current
        finally:
            live.lock.release()
        return {"status": "reloaded", "model": getattr(getattr(new, "model", None), "name", None),
                "previous_model": getattr(getattr(old, "model", None), "name", None),
                "dataset": getattr(getattr(new, "dataset", None), "name", None),
                "seconds": round(time.perf_counter() - t0, 3)}

    app.state.reload = reload
    app.state.limits = limits
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"not found: {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path}"
        return _error(exc.status_code, detail, headers=getattr(exc, "headers", None))

    bearer = HTTPBearer(auto_error=False, description="the token in BRANDMATCH_API_TOKEN")

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        # async: checked on the event loop, so a wrong token gets its 401 without waiting for a worker thread
        if token is None:
            return
        if credentials is None:
            raise StarletteHTTPException(401, "this API needs a bearer token: send 'Authorization: Bearer <token>'",
                                         headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise StarletteHTTPException(401, "wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=_ERRORS)

    def k_param() -> Any:
        return Query(20, ge=1, le=limits.max_k, description=f"number of recommendations (1..{limits.max_k})")

    def filters_of(min_followers: int | None, max_followers: int | None, category: list[str] | None,
                   min_engagement: float | None, include_partners: bool) -> tuple[Any, dict[str, Any]]:
        from brandmatch.serving.recommend import Filters

        kwargs: dict[str, Any] = {"exclude_partners": not include_partners}
        if min_followers is not None:
            kwargs["min_followers"] = min_followers
        if max_followers is not None:
            kwargs["max_followers"] = max_followers
        cats = tuple(c.strip() for item in (category or []) for c in item.split(",") if c.strip())
        if cats:
            kwargs["categories"] = cats
        if min_engagement is not None:
            kwargs["min_engagement"] = min_engagement
        try:
            f = Filters(**kwargs)
        except BrandmatchError as exc:
            raise ApiError(422, str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise ApiError(422, f"invalid filters: {exc}") from None
        shown = _plain(f)
        return f, shown

    def search_query(q: str) -> str:
        if len(q) > limits.max_query_chars:
            raise ApiError(422, f"query parameter 'q': at most {limits.max_query_chars} characters (got {len(q)})")
        return q

    @app.get("/api/health", response_model=HealthOut, summary="liveness (never needs the token)", tags=["meta"])
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    @api.get("/version", response_model=VersionOut, summary="package, model and dataset")
    def version() -> dict[str, Any]:
        recommender, featurize = live.current  # one model per request, even across a reload
        model = getattr(recommender, "model", None)
        dataset = getattr(recommender, "dataset", None)
        out: dict[str, Any] = {"brandmatch": __version__, "api": API_VERSION,
                               "model": getattr(model, "name", None), "dataset": getattr(dataset, "name", None)}
        recipe = getattr(model, "recipe", None)
        if isinstance(recipe, str):
            out["recipe"] = recipe
        out["new_brands"] = featurize.available()
        out["categories"] = list(getattr(recommender, "known_categories", []) or [])
        try:
            from brandmatch.serving.recommend import PART_LABELS
        except ImportError:  # pragma: no cover
            PART_LABELS = {}
        out["part_labels"] = dict(PART_LABELS)
        out["limits"] = asdict(limits)
        return out

    @api.get("/brands", response_model=SearchOut, summary="search brands by id or handle")
    def brands(q: str = Query("", description="search text (empty: the first brands)"),
               limit: int = Query(20, ge=1, le=limits.max_search_limit)) -> dict[str, Any]:
        recommender, featurize = live.current  # one model per request, even across a reload
        found = call(recommender.search_brands, search_query(q), limit)
        return {"query": q, "results": [_account(r, "") for r in found]}

    @api.get("/influencers", response_model=SearchOut, summary="search influencers by id or handle")
    def influencers(q: str = Query("", description="search text (empty: the first influencers)"),
                    limit: int = Query(20, ge=1, le=limits.max_search_limit)) -> dict[str, Any]:
        recommender, featurize = live.current  # one model per request, even across a reload
        found = call(recommender.search_influencers, search_query(q), limit)
        return {"query": q, "results": [_account(r, "") for r in found]}

    @api.get("/brands/{brand_id}", response_model=AccountOut, summary="a brand's account info")
    def brand(brand_id: str = PathParam(description="brand account id or handle")) -> dict[str, Any]:
        recommender, featurize = live.current  # one model per request, even across a reload
        return _account(call(recommender.brand_info, brand_id), brand_id)

    @api.get("/influencers/{influencer_id}", response_model=AccountOut, summary="an influencer's account info")
    def influencer(influencer_id: str) -> dict[str, Any]:
        recommender, featurize = live.current  # one model per request, even across a reload
        return _account(call(recommender.influencer_info, influencer_id), influencer_id)

    @api.get("/brands/{brand_id}/recommendations", response_model=RecommendationsOut,
             summary="top-k influencers for a brand, with filters and per-view explanations")
    def recommendations(
        brand_id: str,
        k: int = k_param(),
        min_followers: int | None = Query(None, ge=0, description="default 5,000"),
        max_followers: int | None = Query(None, ge=0, description="default 100,000"),
        category: list[str] | None = Query(None, description="influencer categories (repeat or comma-separate)"),
        min_engagement: float | None = Query(None, ge=0, description="minimum engagement rate"),
        include_partners: bool = Query(False, description="also list the brand's past partners"),
    ) -> Any:
        recommender, featurize = live.current  # one model per request, even across a reload
        info = _account(call(recommender.brand_info, brand_id), brand_id)
        f, shown = filters_of(min_followers, max_followers, category, min_engagement, include_partners)
        recs = call(recommender.recommend, brand_id, k, f)
        return _direct({"brand": info, "k": k, "filters": shown,
                        "recommendations": [_recommendation(r) for r in recs]})

    @api.get("/influencers/{influencer_id}/similar", response_model=SimilarOut,
             summary="influencers similar to one influencer (same filters)")
    def similar(
        influencer_id: str,
        k: int = k_param(),
        min_followers: int | None = Query(None, ge=0),
        max_followers: int | None = Query(None, ge=0),
        category: list[str] | None = Query(None),
        min_engagement: float | None = Query(None, ge=0),
    ) -> Any:
        recommender, featurize = live.current  # one model per request, even across a reload
        info = _account(call(recommender.influencer_info, influencer_id), influencer_id)
        f, shown = filters_of(min_followers, max_followers, category, min_engagement, True)
        recs = call(recommender.similar, influencer_id, k, f)
        return _direct({"influencer": info, "k": k, "filters": shown,
                        "recommendations": [_recommendation(r) for r in recs]})

    @api.get("/brands/{brand_id}/explain/{influencer_id}", response_model=ExplainOut,
             summary="one brand-influencer pair: score, per-view parts and evidence")
    def explain(brand_id: str, influencer_id: str) -> dict[str, Any]:
        recommender, featurize = live.current  # one model per request, even across a reload
        b = _account(call(recommender.brand_info, brand_id), brand_id)
        m = _account(call(recommender.influencer_info, influencer_id), influencer_id)
        raw = _plain(call(recommender.explain, brand_id, influencer_id))
        out = dict(raw) if isinstance(raw, dict) else {"value": raw}
        parts = out.pop("parts", None)
        out["views"] = out.get("views") or parts or {}
        out.setdefault("evidence", {})
        out["brand"], out["influencer"] = b, m
        out.pop("influencer_id", None)
        out.pop("brand_id", None)
        return out

    async def read_profile(request: Request) -> tuple[BrandProfile, dict[str, Any]]:
        """Parse and check an uploaded profile (JSON, or multipart with image files)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        images: list[tuple[str, str, bytes]] = []
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(422, "the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(422, "the JSON body must be an object with captions, bio, category, k, ...")
            fields = body
            captions = body.get("captions", [])
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                raise ApiError(422, "field 'captions': expected a list of strings")
            for key in ("images", "image_paths", "path", "paths", "directory"):
                if key in body:
                    raise ApiError(422, f"field {key!r} is not accepted: upload images as multipart/form-data "
                                        "files (no server paths)")
        elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                form = await request.form(max_files=limits.max_images + 1, max_fields=limits.max_captions + 50,
                                          max_part_size=max(limits.max_caption_chars, limits.max_bio_chars) * 4 + 1024)
            except StarletteHTTPException as exc:
                big = any(w in str(exc.detail).lower() for w in ("size", "too many", "exceed"))
                raise ApiError(413 if big else 422,
                               f"malformed or oversized form: {exc.detail}") from None
            except BodyLimit._TooLarge:
                raise
            except Exception as exc:  # the multipart parser's own errors
                raise ApiError(422, f"malformed multipart body: {exc}") from None
            fields = {}
            captions = []
            for key, value in form.multi_items():
                if key == "images":
                    if isinstance(value, str):
                        raise ApiError(422, "field 'images': expected uploaded files, not text (no server paths)")
                    media = (value.content_type or "").split(";")[0].strip().lower()
                    if media not in IMAGE_TYPES:
                        raise ApiError(415 if media else 422,
                                       f"image {value.filename!r}: type {media or 'unknown'!r} is not accepted "
                                       f"(allowed: {', '.join(sorted(IMAGE_TYPES))})")
                    data = await value.read(limits.max_image_bytes + 1)
                    if len(data) > limits.max_image_bytes:
                        raise ApiError(413, f"image {value.filename!r} is larger than {limits.max_image_bytes:,} bytes")
                    if not data:
                        raise ApiError(422, f"image {value.filename!r} is empty")
                    images.append((str(value.filename or ""), media, data))
                elif not isinstance(value, str):
                    raise ApiError(422, f"field {key!r}: expected text, got a file")
                elif key == "captions":
                    captions.append(value)
                else:
                    fields[key] = value
            await form.close()
        else:
            raise ApiError(415, "send the profile as application/json or multipart/form-data "
                                f"(got {ctype or 'no content type'!r})")
        captions = [c.strip() for c in captions if c.strip()]
        bio = fields.get("bio") or ""
        if not isinstance(bio, str):
            raise ApiError(422, "field 'bio': expected a string")
        if not captions and not bio.strip():
            raise ApiError(422, "the profile is empty: give at least one caption or a bio")
        if len(captions) > limits.max_captions:
            raise ApiError(413, f"too many captions: {len(captions)} (the limit is {limits.max_captions})")
        long = next((i for i, c in enumerate(captions) if len(c) > limits.max_caption_chars), None)
        if long is not None:
            raise ApiError(413, f"caption {long + 1} has {len(captions[long]):,} characters "
                                f"(the limit is {limits.max_caption_chars:,})")
        if len(bio) > limits.max_bio_chars:
            raise ApiError(413, f"the bio has {len(bio):,} characters (the limit is {limits.max_bio_chars:,})")
        if len(images) > limits.max_images:
            raise ApiError(413, f"too many images: {len(images)} (the limit is {limits.max_images})")
        name = str(fields.get("name") or fields.get("handle") or "new brand")[:100]
        category = fields.get("category") or None
        if category is not None and not isinstance(category, str):
            raise ApiError(422, "field 'category': expected a string")
        recommender, featurize = live.current  # one model per request, even across a reload
        known = list(getattr(recommender, "known_categories", []) or [])
        if category is not None and known:
            match = {c.lower(): c for c in known}.get(category.strip().lower())
            if match is None:  # a typo would silently switch the category term off
                raise ApiError(422, f"field 'category': unknown category {category!r} (known: {', '.join(known)}; "
                                    "leave it empty when none fits)")
            category = match
        return BrandProfile(name, category, bio.strip(), captions, images), fields

    def _field_number(fields: dict[str, Any], key: str, kind: type, default: Any, low: float | None = None,
                      high: float | None = None) -> Any:
        value = fields.get(key)
        if value is None or value == "":
            return default
        try:
            if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = kind(value)
        except (TypeError, ValueError):
            raise ApiError(422, f"field {key!r}: expected {'an integer' if kind is int else 'a number'} "
                                f"(got {value!r})") from None
        if (low is not None and number < low) or (high is not None and number > high):
            rng = f">= {low}" if high is None else f"between {low} and {high}"
            raise ApiError(422, f"field {key!r}: must be {rng} (got {number!r})")
        return number

    @api.post(
        "/recommendations", response_model=RecommendationsOut, status_code=200,
        summary="recommendations for a new brand from its uploaded profile",
        responses={413: {"model": ErrorOut, "description": "body, caption, bio or image too large"},
                   415: {"model": ErrorOut, "description": "unsupported content or image type"},
                   501: {"model": ErrorOut, "description": "no new-brand featurizer installed"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "name": {"type": "string"}, "category": {"type": "string"}, "bio": {"type": "string"},
                "captions": {"type": "array", "items": {"type": "string"}, "description": "one caption per field"},
                "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "k": {"type": "integer"}, "min_followers": {"type": "integer"},
                "max_followers": {"type": "integer"}, "category_filter": {"type": "string"},
                "min_engagement": {"type": "number"}}}},
            "application/json": {"schema": {"type": "object", "properties": {
                "name": {"type": "string"}, "category": {"type": "string"}, "bio": {"type": "string"},
                "captions": {"type": "array", "items": {"type": "string"}}, "k": {"type": "integer"}}}},
        }}},
    )
    async def new_brand(request: Request) -> Any:
        recommender, featurize = live.current  # one model per request, even across a reload
        profile, fields = await read_profile(request)
        k = _field_number(fields, "k", int, 20, 1, limits.max_k)
        cats = fields.get("category_filter") or fields.get("categories")
        if isinstance(cats, str):
            cats = [cats]
        f, shown = filters_of(_field_number(fields, "min_followers", int, None, 0),
                              _field_number(fields, "max_followers", int, None, 0), cats,
                              _field_number(fields, "min_engagement", float, None, 0), False)
        import anyio.to_thread

        def run() -> dict[str, Any]:
            try:
                features, brand_id, category = featurize(profile)
                with lock:
                    recs = recommender.recommend_features(features, brand_id, category, k, f)
            except BrandmatchError as exc:
                raise ApiError(422, str(exc)) from None
            brand = {"id": brand_id, "handle": profile.name, "role": "brand", "category": category,
                     "bio": profile.bio, "new": True, "captions": len(profile.captions), "images": len(profile.images)}
            return {"brand": brand, "k": k, "filters": shown, "recommendations": [_recommendation(r) for r in recs]}

        return await anyio.to_thread.run_sync(run)

    @api.post("/admin/reload", summary="load the model again and swap it in (needs the token)",
              responses={403: {"model": ErrorOut, "description": "no token configured"},
                         409: {"model": ErrorOut, "description": "a reload is already running"},
                         501: {"model": ErrorOut, "description": "no model source to reload from"}})
    def admin_reload() -> dict[str, Any]:
        if token is None:
            raise ApiError(403, f"model reload needs a bearer token: start the server with {TOKEN_ENV} set "
                                "(or send SIGHUP to brandmatch serve)")
        return reload()

    app.include_router(api)
    _add_docs(app)

    if web and WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=WEB_HEADERS)

    return app
