"""The REST API (brandmatch.serving.api) through FastAPI's TestClient on the tiny dataset.

Contract of every endpoint, the bearer token on and off, and bad requests answered with a 4xx
code and a one-line JSON error.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi) is not installed")
pytest.importorskip("httpx", reason="the 'serve' extra (httpx, for TestClient) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from brandmatch.features.store import FeatureSet, FeatureView  # noqa: E402
from brandmatch.models.base import create  # noqa: E402
from brandmatch.serving import api as api_module  # noqa: E402
from brandmatch.serving.api import Limits, create_app  # noqa: E402
from brandmatch.serving.recommend import Recommender  # noqa: E402
from tests.conftest import make_tiny_dataset  # noqa: E402

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def recommender() -> Recommender:
    ds = make_tiny_dataset()
    model = create("cosine").fit(ds.cooperations("train"), ds.features)
    return Recommender(model, ds)


@pytest.fixture
def client(recommender, monkeypatch) -> TestClient:
    monkeypatch.delenv("BRANDMATCH_API_TOKEN", raising=False)
    return TestClient(create_app(recommender))


def image_bytes(fmt: str) -> bytes:
    """A small real image (PIL) in ``fmt``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buf, format=fmt)
    return buf.getvalue()


def error_of(resp, status: int) -> str:
    """The one-line error message of a JSON error response with ``status``."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "\n" not in body["error"]
    return body["error"]


# ---------------------------------------------------------------- contract


def test_health_and_version(client):
    assert client.get("/api/health").json() == {"status": "ok"}
    v = client.get("/api/version").json()
    assert v["brandmatch"] and v["api"] == "1"
    assert v["model"] == "cosine" and v["dataset"] == "tiny"
    assert v["categories"] == ["auto", "food"]
    assert "c" in v["part_labels"] and v["limits"]["max_k"] == 500


def test_search(client):
    body = client.get("/api/brands", params={"q": "b2"}).json()
    assert body["query"] == "b2" and [r["id"] for r in body["results"]] == ["b2"]
    assert body["results"][0]["category"] == "food"
    every = client.get("/api/brands", params={"q": ""}).json()["results"]
    assert [r["id"] for r in every] == [f"b{i}" for i in range(6)]
    infl = client.get("/api/influencers", params={"q": "m", "limit": 3}).json()["results"]
    assert len(infl) == 3 and all(r["id"].startswith("m") for r in infl)
    assert client.get("/api/brands", params={"q": "zzz"}).json()["results"] == []


def test_account_info(client):
    b = client.get("/api/brands/b0").json()
    assert b["id"] == "b0" and b["role"] == "brand" and b["category"] == "food"
    assert b["partners"] == ["m0", "m1"]
    m = client.get("/api/influencers/m1").json()
    assert m["id"] == "m1" and m["role"] == "influencer" and m["followers"] == 12000
    assert m["categories"] == ["food"] and "content_text" in m["top"]


def test_recommendations_contract(client, recommender):
    body = client.get("/api/brands/b0/recommendations", params={"k": 3}).json()
    assert set(body) == {"brand", "k", "filters", "recommendations"}
    assert body["brand"]["id"] == "b0" and body["k"] == 3
    assert body["filters"]["min_followers"] == 5000 and body["filters"]["exclude_partners"] is True
    recs = body["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3]
    for r in recs:
        assert {"influencer", "handle", "score", "views", "evidence", "followers", "engagement_rate"} <= set(r)
        assert set(r["views"]) <= {"c", "au", "att", "cat", "prof", "total"} and r["views"]
        assert math.isclose(sum(r["views"].values()), r["score"], rel_tol=1e-6, abs_tol=1e-9)
        assert r["influencer"] not in {"m0", "m1"}  # past partners are left out by default
        assert "influencer" in r["evidence"]
    scores = [r["score"] for r in recs]
    assert scores == sorted(scores, reverse=True)
    # the same ranking as the recommender itself
    direct = [x.influencer_id for x in recommender.recommend("b0", 3)]
    assert [r["influencer"] for r in recs] == direct
    # the body is rendered without FastAPI's response-model pass: it must already be in the declared shape
    from brandmatch.serving.api import RecommendationsOut, SimilarOut

    assert RecommendationsOut.model_validate(body).model_dump(mode="json") == body
    sim = client.get("/api/influencers/m1/similar", params={"k": 3, "min_followers": 0}).json()
    assert SimilarOut.model_validate(sim).model_dump(mode="json") == sim


def test_recommendation_filters(client):
    get = lambda **p: client.get("/api/brands/b0/recommendations", params={"k": 20, **p}).json()["recommendations"]
    default = {r["influencer"] for r in get()}
    assert {"m0", "m1"}.isdisjoint(default)
    assert {"m0", "m1"} <= {r["influencer"] for r in get(include_partners="true")}
    big = get(min_followers=20000)
    assert big and all(r["followers"] >= 20000 for r in big)
    small = get(max_followers=9000)
    assert small and all(r["followers"] <= 9000 for r in small)
    auto = get(category="auto")
    assert auto and all("auto" in r["categories"] for r in auto)
    by_handle = client.get("/api/brands/b0/recommendations").json()
    assert by_handle["k"] == 20


def test_similar_and_explain(client):
    sim = client.get("/api/influencers/m1/similar", params={"k": 2, "min_followers": 0}).json()
    assert sim["influencer"]["id"] == "m1" and len(sim["recommendations"]) == 2
    assert "m1" not in {r["influencer"] for r in sim["recommendations"]}
    ex = client.get("/api/brands/b0/explain/m3").json()
    assert ex["brand"]["id"] == "b0" and ex["influencer"]["id"] == "m3"
    assert math.isclose(sum(ex["views"].values()), ex["score"], rel_tol=1e-6)
    assert ex["rank"] >= 1 and "evidence" in ex


def test_openapi_docs_and_web(client):
    spec = client.get("/api/openapi.json").json()
    for path in ("/api/brands/{brand_id}/recommendations", "/api/recommendations", "/api/influencers/{influencer_id}/similar",
                 "/api/brands/{brand_id}/explain/{influencer_id}"):
        assert path in spec["paths"]
    assert "RecommendationsOut" in spec["components"]["schemas"]
    docs = client.get("/api/docs").text
    assert "swagger" in docs.lower()
    try:
        import swagger_ui_bundle  # noqa: F401 - the serve extra's offline Swagger UI
    except ImportError:
        pass
    else:
        assert "/api/docs-assets/swagger-ui-bundle.js" in docs and "https://" not in docs
        assert client.get("/api/docs-assets/swagger-ui-bundle.js").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<main id=\"view\"" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "downloadCsv" in js.text
    assert "http://" not in js.text and "https://" not in js.text  # no CDN, no network
    assert client.get("/static/app.css").status_code == 200


# ---------------------------------------------------------------- bad requests


@pytest.mark.parametrize("k, bound", [(0, ">= 1"), (501, "<= 500"), (10**9, "<= 500")])
def test_k_out_of_range(client, k, bound):
    msg = error_of(client.get("/api/brands/b0/recommendations", params={"k": k}), 422)
    assert "'k'" in msg and bound in msg
    msg = error_of(client.get("/api/influencers/m1/similar", params={"k": k}), 422)
    assert "'k'" in msg


def test_bad_parameters(client):
    assert "'k'" in error_of(client.get("/api/brands/b0/recommendations", params={"k": "ten"}), 422)
    msg = error_of(client.get("/api/brands/b0/recommendations", params={"category": "sports"}), 422)
    assert "unknown category 'sports'" in msg
    msg = error_of(client.get("/api/brands/b0/recommendations",
                              params={"min_followers": 9000, "max_followers": 100}), 422)
    assert "min_followers" in msg
    assert "min_followers" in error_of(client.get("/api/brands/b0/recommendations", params={"min_followers": -1}), 422)
    assert "'q'" in error_of(client.get("/api/brands", params={"q": "x" * 500}), 422)


def test_unknown_accounts_are_404(client):
    assert "unknown brand 'nope'" in error_of(client.get("/api/brands/nope/recommendations"), 404)
    assert "unknown brand" in error_of(client.get("/api/brands/nope"), 404)
    assert "unknown influencer" in error_of(client.get("/api/influencers/nope"), 404)
    assert "unknown influencer" in error_of(client.get("/api/influencers/nope/similar"), 404)
    assert "unknown influencer" in error_of(client.get("/api/brands/b0/explain/nope"), 404)
    assert "not a brand" in error_of(client.get("/api/brands/m1/recommendations"), 404)
    assert "not found" in error_of(client.get("/api/nothing-here"), 404)
    assert "not allowed" in error_of(client.delete("/api/brands/b0"), 405)


# ---------------------------------------------------------------- auth


def test_token_required_when_set(recommender):
    c = TestClient(create_app(recommender, token=TOKEN))
    assert c.get("/api/health").status_code == 200  # liveness needs no token
    resp = c.get("/api/brands/b0/recommendations")
    assert "bearer token" in error_of(resp, 401)
    assert resp.headers["www-authenticate"] == "Bearer"
    assert "wrong" in error_of(c.get("/api/version", headers={"Authorization": "Bearer nope"}), 401)
    assert error_of(c.get("/api/version", headers={"Authorization": f"Basic {TOKEN}"}), 401)
    ok = c.get("/api/brands/b0/recommendations", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["recommendations"]
    assert error_of(c.post("/api/recommendations", json={"bio": "x"}), 401)
    assert c.get("/").status_code == 200  # the page itself asks for the token in the browser


def test_token_from_environment(recommender, monkeypatch):
    monkeypatch.setenv("BRANDMATCH_API_TOKEN", TOKEN)
    c = TestClient(create_app(recommender))
    assert error_of(c.get("/api/brands"), 401)
    assert c.get("/api/brands", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    monkeypatch.setenv("BRANDMATCH_API_TOKEN", "")
    assert TestClient(create_app(recommender)).get("/api/brands").status_code == 200


# ---------------------------------------------------------------- new brands


def test_new_brand_without_featurizer_is_501(client, monkeypatch):
    monkeypatch.setattr(api_module, "_featurizer", lambda: None)
    msg = error_of(client.post("/api/recommendations", json={"captions": ["fresh pasta"], "bio": "we cook"}), 501)
    assert "not available" in msg and "brandmatch.features.transform" in msg


@pytest.fixture
def fake_featurizer(recommender, monkeypatch, tmp_path):
    """A stand-in FittedFeaturizer: records the profile tables it was given, returns food-like rows."""
    seen: dict = {}

    class FakeFitted:
        def transform(self, tables):
            acc = tables.accounts.iloc[0]
            seen["account"] = {k: acc[k] for k in ("account_id", "handle", "role", "category", "bio")}
            seen["captions"] = [c for c in tables.posts["caption"].tolist() if isinstance(c, str)]
            refs = [r for r in tables.posts["image_ref"].tolist() if isinstance(r, str)]
            seen["images"] = [Path(r).name for r in refs]
            seen["image_bytes"] = [Path(r).read_bytes() for r in refs]
            ids = np.array([acc["account_id"]])
            one = np.ones(1, dtype=bool)
            return FeatureSet({
                "content_text": FeatureView("content_text", ids, np.array([[0.9, 0.1]], np.float32), one),
                "attributes": FeatureView("attributes", ids, np.array([[0.9, 0.5]], np.float32), one),
            })

    class FittedFeaturizer:
        @staticmethod
        def load(path):
            seen["loaded_from"] = Path(path)
            return FakeFitted()

    monkeypatch.setattr(api_module, "_featurizer", lambda: SimpleNamespace(FittedFeaturizer=FittedFeaturizer))
    monkeypatch.setattr(recommender.dataset, "path", tmp_path)
    return seen


def test_new_brand_multipart(client, fake_featurizer):
    png, jpg = image_bytes("PNG"), image_bytes("JPEG")
    resp = client.post("/api/recommendations", data={
        "name": "Green Bowl", "category": "food", "bio": "salads and bowls", "k": "3",
        "captions": ["fresh pasta tonight", "our new salad"], "min_followers": "0",
    }, files=[("images", ("../../etc/passwd.png", png, "image/png")), ("images", ("b.jpg", jpg, "image/jpeg"))])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["brand"]["id"] == "new:green-bowl" and body["brand"]["new"] is True
    assert body["brand"]["category"] == "food" and body["k"] == 3
    assert client.get("/api/version").json()["new_brands"] is True
    recs = body["recommendations"]
    assert len(recs) == 3 and recs[0]["influencer"] in {"m0", "m1", "m2", "m3"}  # food-like first
    assert fake_featurizer["captions"] == ["fresh pasta tonight", "our new salad"]
    assert fake_featurizer["account"] == {"account_id": "new:green-bowl", "handle": "Green Bowl", "role": "brand",
                                          "category": "food", "bio": "salads and bowls"}
    assert fake_featurizer["images"] == ["image000.png", "image001.jpg"]  # names chosen by the server
    assert fake_featurizer["image_bytes"][0] == png


def test_new_brand_unreadable_image(client, fake_featurizer):
    resp = client.post("/api/recommendations", data={"name": "x", "captions": "pasta"},
                       files=[("images", ("a.png", b"not an image", "image/png"))])
    msg = error_of(resp, 422)
    assert "not a readable image" in msg and "brandmatch-profile-" not in msg and "upload" in msg


def test_new_brand_without_fitted_state_is_501(client, recommender, monkeypatch, tmp_path):
    """The real featurizer module, but a dataset directory that `featurize` never fitted."""
    monkeypatch.setattr(recommender.dataset, "path", tmp_path)
    assert client.get("/api/version").json()["new_brands"] is False
    msg = error_of(client.post("/api/recommendations", json={"captions": ["pasta"]}), 501)
    assert msg.startswith("new-brand recommendations are not available")


def test_new_brand_json(client, fake_featurizer):
    resp = client.post("/api/recommendations", json={"name": "Green Bowl", "captions": ["pasta"], "k": 2,
                                                     "category": "FOOD"})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["recommendations"]) == 2
    assert resp.json()["brand"]["category"] == "food" and fake_featurizer["account"]["category"] == "food"


def test_malformed_profiles(recommender, fake_featurizer, monkeypatch):
    monkeypatch.delenv("BRANDMATCH_API_TOKEN", raising=False)
    limits = Limits(max_body_bytes=20_000, max_captions=3, max_caption_chars=50, max_bio_chars=40, max_images=2,
                    max_image_bytes=100)
    c = TestClient(create_app(recommender, limits=limits))
    post = lambda **kw: c.post("/api/recommendations", **kw)
    assert "not valid JSON" in error_of(post(content=b"{nope", headers={"content-type": "application/json"}), 422)
    assert "object" in error_of(post(json=["a"]), 422)
    assert "'captions'" in error_of(post(json={"captions": "one string"}), 422)
    assert "empty" in error_of(post(json={"captions": [], "bio": "  "}), 422)
    assert "no server paths" in error_of(post(json={"captions": ["a"], "images": ["/etc/passwd"]}), 422)
    assert "no server paths" in error_of(post(json={"captions": ["a"], "path": "/data"}), 422)
    assert "too many captions" in error_of(post(json={"captions": ["a"] * 4}), 413)
    assert "caption 2" in error_of(post(json={"captions": ["a", "b" * 51]}), 413)
    assert "bio" in error_of(post(json={"bio": "x" * 41}), 413)
    assert "'k'" in error_of(post(json={"captions": ["a"], "k": 0}), 422)
    assert "unknown category 'fod'" in error_of(post(json={"captions": ["a"], "category": "fod"}), 422)
    assert "'k'" in error_of(post(json={"captions": ["a"], "k": 9999}), 422)
    assert "'k'" in error_of(post(json={"captions": ["a"], "k": "many"}), 422)
    assert "too large" in error_of(post(content=b"x" * 30_000, headers={"content-type": "application/json"}), 413)
    assert "multipart/form-data" in error_of(post(content=b"hello", headers={"content-type": "text/plain"}), 415)
    files = lambda *fs: post(data={"captions": "a"}, files=[("images", f) for f in fs])
    assert "not accepted" in error_of(files(("x.txt", b"hello", "text/plain")), 415)
    assert "larger than" in error_of(files(("x.png", b"\0" * 101, "image/png")), 413)
    assert "empty" in error_of(files(("x.png", b"", "image/png")), 422)
    assert "too many images" in error_of(files(*[("x.png", b"\0", "image/png")] * 3), 413)
    assert error_of(files(*[("x.png", b"\0", "image/png")] * 5), 413)
    assert "expected uploaded files" in error_of(post(data={"captions": "a", "images": "/etc/passwd"}), 422)
    assert "boundary" in error_of(post(content=b"x", headers={"content-type": "multipart/form-data"}), 422)
    assert "oversized" in error_of(post(data={"captions": "x" * 5_000}, files=[("images", ("a.png", b"1", "image/png"))]), 413)


def test_oversized_streamed_body(recommender, monkeypatch):
    """A body without Content-Length is counted while it streams."""
    monkeypatch.delenv("BRANDMATCH_API_TOKEN", raising=False)
    c = TestClient(create_app(recommender, limits=Limits(max_body_bytes=1000)))

    def chunks():
        for _ in range(10):
            yield b"x" * 500

    resp = c.post("/api/recommendations", content=chunks(), headers={"content-type": "application/json"})
    assert "too large" in error_of(resp, 413)


# ---------------------------------------------------------------- the CLI command


def test_serve_command_is_registered():
    from brandmatch.cli import COMMANDS, build_parser

    assert "serve" in COMMANDS
    args = build_parser().parse_args(["serve", "--model-dir", "m", "--data", "d", "--port", "8123"])
    assert args.host == "127.0.0.1" and args.port == 8123


def test_serve_rejects_a_bad_port(capsys):
    from brandmatch.cli import main

    assert main(["serve", "--model-dir", "m", "--data", "d", "--port", "0"]) == 2
    assert "--port" in capsys.readouterr().err
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--model-dir", "m", "--data", "d", "--port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_strict_json():
    """NaN and infinities never reach a client as bare NaN / Infinity (RFC 8259)."""
    body = api_module.StrictJSONResponse({"a": float("nan"), "b": [float("inf"), 1.5]}).body
    assert json.loads(body) == {"a": None, "b": [None, 1.5]}


@pytest.mark.slow
def test_serve_command_end_to_end(tmp_path):
    """`brandmatch serve` in a subprocess on a free 127.0.0.1 port answers, then stops."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from brandmatch.data.store import load_dataset, write_dataset

    ds = make_tiny_dataset()
    write_dataset(ds, tmp_path / "data", features=ds.features)
    ds = load_dataset(tmp_path / "data")
    create("cosine").fit(ds.cooperations("train"), ds.features).save(tmp_path / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BRANDMATCH_API_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "brandmatch.cli", "serve", "--model-dir", str(tmp_path / "model"),
                             "--data", str(tmp_path / "data"), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "brandmatch serve did not answer within 60 s"
            time.sleep(0.25)
        assert httpx.get(url + "/api/version", timeout=5).status_code == 401
        resp = httpx.get(url + "/api/brands/b2/recommendations", params={"k": 2},
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert resp.status_code == 200 and len(resp.json()["recommendations"]) == 2
        assert "<main" in httpx.get(url + "/", timeout=5).text
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0]
    assert "bearer token required" in out
