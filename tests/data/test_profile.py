"""Brand profile folders: the import format for one brand, and instaloader 4.x downloads."""

from __future__ import annotations

import calendar
import json
import lzma
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from brandmatch.data.profile import ProfileLimits, brand_of, load_brand_profile
from brandmatch.errors import DatasetError

REPO = Path(__file__).resolve().parents[2]


def _jpeg(path: Path, value: int = 90, size: int = 16) -> None:
    from PIL import Image

    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path, "JPEG")


def _xz(path: Path, obj: object) -> None:
    with lzma.open(path, "wt", check=lzma.CHECK_NONE) as f:  # as instaloader writes it
        json.dump(obj, f, separators=(",", ":"))


def _post_node(ts: int, likes: int, comments: int, caption: str | None, shortcode: str, typename: str = "GraphImage"):
    node = {"__typename": typename, "shortcode": shortcode, "taken_at_timestamp": ts,
            "edge_media_preview_like": {"count": likes}, "edge_media_to_comment": {"count": comments}}
    if caption is not None:
        node["edge_media_to_caption"] = {"edges": [{"node": {"text": caption}}]}
    return {"node": node, "instaloader": {"version": "4.15.1", "node_type": "Post"}}


def instaloader_folder(root: Path) -> Path:
    """A tiny `instaloader coffeeco` download: 3 posts (one sidecar, one without a .txt), a story,
    a profile JSON, the id file, a profile picture and a comments file."""
    root.mkdir(parents=True)
    stamps = ["2024-05-01_10-00-00", "2024-05-02_11-30-15", "2024-05-03_12-00-59"]
    ts = [calendar.timegm(time.strptime(s, "%Y-%m-%d_%H-%M-%S")) for s in stamps]
    # post 1: image + caption + metadata
    (root / f"{stamps[0]}_UTC.txt").write_text("Espresso time ☕ #coffee\n", encoding="utf-8")
    _jpeg(root / f"{stamps[0]}_UTC.jpg")
    _xz(root / f"{stamps[0]}_UTC.json.xz", _post_node(ts[0], 120, 4, "Espresso time ☕ #coffee", "AAA1"))
    # post 2: a sidecar (two images), caption file
    (root / f"{stamps[1]}_UTC.txt").write_text("Latte art #barista", encoding="utf-8")
    _jpeg(root / f"{stamps[1]}_UTC_1.jpg", 30)
    _jpeg(root / f"{stamps[1]}_UTC_2.jpg", 200)
    _xz(root / f"{stamps[1]}_UTC.json.xz", _post_node(ts[1], 80, 2, "Latte art #barista", "AAA2", "GraphSidecar"))
    # post 3: no .txt (caption from metadata), uncompressed .json (--no-compress-json), no image
    (root / f"{stamps[2]}_UTC.json").write_text(json.dumps(_post_node(ts[2] + 7, 5, 0, "Cold brew", "AAA3")))
    (root / f"{stamps[2]}_UTC_comments.json").write_text("[]")
    # a story item: not a post
    _jpeg(root / "2024-05-04_08-00-00_UTC.jpg")
    _xz(root / "2024-05-04_08-00-00_UTC.json.xz", {"node": {"taken_at_timestamp": ts[2] + 99},
                                                   "instaloader": {"node_type": "StoryItem"}})
    _xz(root / "coffeeco_4242.json.xz", {"node": {"username": "coffeeco", "id": "4242",
                                                  "biography": "Roasters | espresso • latte lovers",
                                                  "edge_followed_by": {"count": 15300}},
                                         "instaloader": {"version": "4.15.1", "node_type": "Profile"}})
    (root / "id").write_text("4242\n")
    _jpeg(root / "2024-05-01_09-00-00_UTC_profile_pic.jpg")
    _jpeg(root / "coffeeco_4242_profile_pic.jpg")
    return root


def test_instaloader_folder(tmp_path):
    t = load_brand_profile(instaloader_folder(tmp_path / "coffeeco"), category="drink")
    acc = t.accounts
    assert acc["account_id"].tolist() == ["coffeeco"] and acc["role"].tolist() == ["brand"]
    assert acc["bio"].iloc[0] == "Roasters | espresso • latte lovers" and int(acc["followers"].iloc[0]) == 15300
    assert brand_of(t) == ("coffeeco", "drink")
    p = t.posts.set_index("post_id")
    assert sorted(p.index) == ["coffeeco-AAA1", "coffeeco-AAA2", "coffeeco-AAA3"]  # no story, no profile pic
    assert p.loc["coffeeco-AAA1", "caption"] == "Espresso time ☕ #coffee"
    assert p.loc["coffeeco-AAA3", "caption"] == "Cold brew"  # from the metadata
    assert int(p.loc["coffeeco-AAA1", "likes"]) == 120 and int(p.loc["coffeeco-AAA2", "comments"]) == 2
    assert int(p.loc["coffeeco-AAA1", "timestamp"]) == calendar.timegm((2024, 5, 1, 10, 0, 0))
    assert int(p.loc["coffeeco-AAA3", "timestamp"]) == calendar.timegm((2024, 5, 3, 12, 0, 59)) + 7
    assert Path(p.loc["coffeeco-AAA2", "image_ref"]).name == "2024-05-02_11-30-15_UTC_1.jpg"  # first of the sidecar
    assert Path(p.loc["coffeeco-AAA1", "image_ref"]).is_absolute()
    assert p.loc["coffeeco-AAA3", "image_ref"] is None
    assert t.cooperations.empty and t.splits.empty and t.grids.empty


def test_instaloader_without_metadata_uses_file_names(tmp_path):
    root = tmp_path / "Plain.Brand"
    root.mkdir()
    (root / "2023-01-02_03-04-05_UTC.txt").write_text("hello", encoding="utf-8")
    _jpeg(root / "2023-01-02_03-04-05_UTC.jpg")
    t = load_brand_profile(root, brand_id="plain")
    assert t.accounts["account_id"].tolist() == ["plain"] and t.accounts["bio"].isna().all()
    assert t.posts["account_id"].tolist() == ["plain"]
    assert int(t.posts["timestamp"].iloc[0]) == calendar.timegm((2023, 1, 2, 3, 4, 5))
    assert t.posts["likes"].isna().all()


@pytest.mark.parametrize("breakage, message", [
    ("xz", "not a readable .json.xz file"),
    ("json", "invalid JSON at line 1"),
    ("likes", "column 'node.edge_media_preview_like.count': 'many' is not a count"),
    ("no-node", "column 'node': no 'node' object"),
    ("image", "is not a readable image"),
])
def test_instaloader_bad_files(tmp_path, breakage, message):
    root = instaloader_folder(tmp_path / "coffeeco")
    meta = root / "2024-05-01_10-00-00_UTC.json.xz"
    if breakage == "xz":
        meta.write_bytes(b"not xz at all")
    elif breakage == "json":
        with lzma.open(meta, "wt") as f:
            f.write("{oops")
    elif breakage == "likes":
        node = _post_node(1, 0, 0, None, "X")
        node["node"]["edge_media_preview_like"]["count"] = "many"
        _xz(meta, node)
    elif breakage == "no-node":
        _xz(meta, {"instaloader": {}})
    else:
        (root / "2024-05-01_10-00-00_UTC.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError) as err:
        load_brand_profile(root)
    assert message in str(err.value) and str(root) in str(err.value)


def test_limits(tmp_path):
    root = instaloader_folder(tmp_path / "coffeeco")
    with pytest.raises(DatasetError, match="3 posts; a brand profile is limited to 2"):
        load_brand_profile(root, limits=ProfileLimits(max_posts=2))
    with pytest.raises(DatasetError, match=r"_UTC.jpg is \d+ bytes; at most 100 bytes per image"):
        load_brand_profile(root, limits=ProfileLimits(max_image_bytes=100))
    with pytest.raises(DatasetError, match="has 16 x 16 pixels; at most 100"):
        load_brand_profile(root, limits=ProfileLimits(max_image_pixels=100))
    with pytest.raises(DatasetError, match="larger than 50 bytes once decompressed"):
        load_brand_profile(root, limits=ProfileLimits(max_json_bytes=50))
    with pytest.raises(DatasetError, match="caption file is 26 bytes; at most 10 bytes"):
        load_brand_profile(root, limits=ProfileLimits(max_caption_bytes=10))
    assert ProfileLimits().max_posts == 500 and ProfileLimits().max_image_bytes == 20 * 1024 * 1024


def test_examples_load():
    a = load_brand_profile(REPO / "examples" / "new-brand")
    assert brand_of(a) == ("beanandbrew", "drink") and len(a.posts) == 6 and len(a.detections) == 18
    b = load_brand_profile(REPO / "examples" / "new-brand-instaloader", category="drink")
    assert brand_of(b) == ("beanandbrewco", "drink") and len(b.posts) == 3
    assert b.posts["image_ref"].notna().all() and b.accounts["bio"].iloc[0] == a.accounts["bio"].iloc[0]
    assert all(p.stat().st_size < 10_000 for p in (REPO / "examples" / "new-brand-instaloader").iterdir())


def _import_folder(tmp_path: Path) -> Path:
    root = tmp_path / "brand"
    shutil.copytree(REPO / "examples" / "new-brand", root)
    return root


def test_import_format_images_resolved(tmp_path):
    root = _import_folder(tmp_path)
    (root / "img").mkdir()
    _jpeg(root / "img" / "a.jpg")
    text = (root / "posts.csv").read_text(encoding="utf-8").splitlines()
    assert text[1].endswith(",")
    text[1] += "img/a.jpg"
    (root / "posts.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    t = load_brand_profile(root, category="food", brand_id="bb2")
    assert brand_of(t) == ("bb2", "food") and set(t.posts["account_id"]) == {"bb2"}
    assert t.posts["image_ref"].iloc[0] == str((root / "img" / "a.jpg").resolve())


@pytest.mark.parametrize("edit, message", [
    (lambda r: (r / "accounts.csv").write_text((r / "accounts.csv").read_text(encoding="utf-8")
                                               + "x,x,brand,,,\n", encoding="utf-8"),
     "accounts.csv, row 2, column 'account_id': a brand profile has exactly one account"),
    (lambda r: (r / "accounts.csv").write_text((r / "accounts.csv").read_text(encoding="utf-8")
                                               .replace(",brand,", ",influencer,"), encoding="utf-8"),
     "accounts.csv, row 1, column 'role': the profile's account must have role 'brand'"),
    (lambda r: (r / "posts.csv").write_text((r / "posts.csv").read_text(encoding="utf-8")
                                            .replace("bb-p02,beanandbrew", "bb-p02,someone"), encoding="utf-8"),
     "posts.csv, row 3, column 'account_id': account 'someone' is not the profile's brand"),
    (lambda r: (r / "posts.csv").write_text((r / "posts.csv").read_text(encoding="utf-8")
                                            .replace(",900,20,", ",900,20,missing.jpg"), encoding="utf-8"),
     "posts.csv, row 1, column 'image_ref': no such image file 'missing.jpg'"),
    (lambda r: (r / "posts.csv").write_text((r / "posts.csv").read_text(encoding="utf-8")
                                            .replace(",900,20,", ",9k,20,"), encoding="utf-8"),
     "posts.csv, row 1, column 'likes': '9k' is not a number"),
    (lambda r: (r / "cooperations.csv").write_text("brand_id,influencer_id\n", encoding="utf-8"),
     "cooperations.csv: a brand profile has no cooperations table"),
    (lambda r: (r / "accounts.csv").unlink(), "not a brand profile folder"),
])
def test_import_format_errors(tmp_path, edit, message):
    root = _import_folder(tmp_path)
    edit(root)
    with pytest.raises(DatasetError) as err:
        load_brand_profile(root)
    assert message in str(err.value)


def test_import_format_post_limit(tmp_path):
    root = _import_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"posts.csv, row 3: 6 posts; a brand profile is limited to 2"):
        load_brand_profile(root, limits=ProfileLimits(max_posts=2))
    with pytest.raises(DatasetError, match="no such brand profile folder"):
        load_brand_profile(tmp_path / "nowhere")
