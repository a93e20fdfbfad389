"""A new brand's own profile as tables: the input of `brandmatch recommend --brand-profile PATH`.

Two folder layouts are accepted (:func:`load_brand_profile` tells them apart):

(a) **the import format** (docs/data-format.md) for ONE brand::

        accounts.csv        exactly one row, role 'brand' (bio, category, followers as usual)
        posts.csv           optional; account_id = the brand; image_ref relative to the folder (inside it)
        audience.csv  audience_posts.csv  detections.csv     optional
        images/...          optional, referenced by posts.image_ref

(b) **an instaloader 4.x download** of the brand's profile (``instaloader <profile>``)::

        2024-05-03_12-30-00_UTC.txt        caption (instaloader's default post text)
        2024-05-03_12-30-00_UTC.jpg        the image (a sidecar post: ..._UTC_1.jpg, _2.jpg, ...)
        2024-05-03_12-30-00_UTC.json.xz    post metadata, LZMA-compressed JSON {"node": {...}, "instaloader": {...}}
        <profile>_<userid>.json.xz         profile metadata (biography, edge_followed_by.count, username)
        <date>_UTC_profile_pic.jpg  or  <profile>_<userid>_profile_pic.jpg      ignored
        id                                  the profile's numeric id (instaloader's bookkeeping)

   A post is the set of files sharing one ``<date>_UTC`` stem. Its caption is the ``.txt`` file,
   else the metadata's ``edge_media_to_caption``; its time the metadata's ``taken_at_timestamp``,
   else the stem's date (UTC); likes ``edge_media_preview_like.count`` (or ``edge_liked_by``);
   comments ``edge_media_to_comment.count`` (or ``edge_media_to_parent_comment``); its image the
   ``.jpg`` (first sidecar image for a sidecar). Stories (metadata ``node_type`` StoryItem),
   ``_comments.json``, ``_location.txt``, videos and profile pictures are not posts. The bio and
   follower count come from the profile metadata when present. ``.json`` (uncompressed,
   ``--no-compress-json``) works too.

Images are not classified here: :meth:`brandmatch.features.transform.FittedFeaturizer.transform`
runs the offline classifier of features/visual.py on them. Here they are only checked: the file
exists, is at most ``max_image_bytes``, and PIL reads its header (at most ``max_image_pixels``).

Limits (:class:`ProfileLimits`): at most 500 posts (the content view reads the 50 most recent),
20 MB per image, 100 kB per caption file, 16 MB per decompressed metadata file. Every problem raises
:class:`~brandmatch.errors.DatasetError` naming the file, the row (CSV data row; none for instaloader
files) and the column or JSON field.
"""

from __future__ import annotations

import calendar
import json
import lzma
import math
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from brandmatch.data.schema import TABLES, Tables, empty_table, validate_table, validate_tables
from brandmatch.errors import DatasetError, where

PROFILE_TABLES = ("accounts", "posts", "audience", "audience_posts", "detections")
NOT_IN_PROFILE = ("cooperations", "splits", "grids")
_STEM_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})_UTC(?:_(\d+))?$")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_PROFILE_JSON_RE = re.compile(r"^(.+)_(\d+)\.json(\.xz)?$")


@dataclass(frozen=True)
class ProfileLimits:
    """Size limits of a brand profile folder."""

    max_posts: int = 500
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 64_000_000
    max_caption_bytes: int = 100_000
    max_json_bytes: int = 16 * 1024 * 1024


def load_brand_profile(
    path: str | os.PathLike,
    *,
    category: str | None = None,
    brand_id: str | None = None,
    limits: ProfileLimits | None = None,
) -> Tables:
    """Read a brand profile folder (import format or instaloader download) into validated tables.

    Returns :class:`Tables` with one account (role ``brand``) and its posts (``image_ref``:
    absolute paths), plus audience / audience posts / detections when an import-format folder has
    them; cooperations, splits and grids are empty. ``category`` overrides (or fills) the brand's
    category, ``brand_id`` its account id (default: the accounts.csv id, or the instaloader
    profile name).
    """
    root = Path(path)
    limits = limits or ProfileLimits()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such brand profile folder")
    names = {p.name for p in root.iterdir()}
    if "accounts.csv" in names or "accounts.parquet" in names:
        tables, sources = _import_format(root, limits)
    elif any(_post_stem(p) is not None for p in root.iterdir() if p.is_file()):
        tables = _instaloader(root, limits)
        sources = {name: str(root) for name in TABLES}
    else:
        raise DatasetError(
            f"{root}: not a brand profile folder (expected accounts.csv in the import format, or an instaloader "
            "download: <date>_UTC.txt / .jpg / .json.xz files)"
        )
    acc = tables.accounts.copy()
    if category is not None:
        acc["category"] = [category]
    if brand_id is not None and brand_id != acc["account_id"].iloc[0]:
        old = acc["account_id"].iloc[0]
        acc["account_id"] = [brand_id]
        posts = tables.posts.copy()
        posts["account_id"] = posts["account_id"].replace({old: brand_id})
        aud = tables.audience.copy()
        aud["account_id"] = aud["account_id"].replace({old: brand_id})
        tables = Tables(acc, tables.cooperations, tables.splits, tables.grids, posts, aud,
                        tables.audience_posts, tables.detections)
    else:
        tables.accounts = acc
    sources = {name: sources.get(name, f"{root} ({name})") for name in TABLES}
    return validate_tables(tables, sources)


def brand_of(tables: Tables) -> tuple[str, str | None]:
    """(brand id, category or None) of a profile's single account."""
    row = tables.accounts.iloc[0]
    cat = row["category"]
    return str(row["account_id"]), (None if cat is None or (isinstance(cat, float) and pd.isna(cat)) else str(cat))


# ---------------------------------------------------------------------- (a) import format


def _import_format(root: Path, limits: ProfileLimits) -> tuple[Tables, dict[str, str]]:
    from brandmatch.data.user_import import TABLE_SUFFIXES, _read_table

    files: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.suffix.lower() not in TABLE_SUFFIXES:
            continue
        if p.stem in NOT_IN_PROFILE:
            raise DatasetError(f"{p}: a brand profile has no {p.stem} table (remove the file)")
        if p.stem not in PROFILE_TABLES:
            raise DatasetError(f"{p}: unknown table file (a brand profile has {', '.join(f'{t}.csv' for t in PROFILE_TABLES)})")
        if p.stem in files:
            raise DatasetError(f"{p}: table {p.stem!r} given twice (also {files[p.stem].name}); keep one")
        files[p.stem] = p
    frames = {n: validate_table(n, _read_table(n, p), str(p)) for n, p in files.items()}
    acc_src = str(files["accounts"])
    acc = frames["accounts"]
    if len(acc) == 0:
        raise DatasetError(f"{acc_src}: no account row (a brand profile has exactly one: the brand)")
    if len(acc) > 1:
        raise DatasetError(f"{where(acc_src, 2, 'account_id')}: a brand profile has exactly one account (the brand); "
                           f"found {len(acc)} rows")
    if acc["role"].iloc[0] != "brand":
        raise DatasetError(f"{where(acc_src, 1, 'role')}: the profile's account must have role 'brand', "
                           f"not {acc['role'].iloc[0]!r}")
    brand = acc["account_id"].iloc[0]
    posts = frames.get("posts", empty_table("posts"))
    if len(posts):
        src = str(files["posts"])
        for i, a in enumerate(posts["account_id"].tolist()):
            if a != brand:
                raise DatasetError(f"{where(src, i + 1, 'account_id')}: account {a!r} is not the profile's brand "
                                   f"{brand!r}")
        if len(posts) > limits.max_posts:
            raise DatasetError(f"{where(src, limits.max_posts + 1)}: {len(posts)} posts; a brand profile is limited "
                               f"to {limits.max_posts} (the content view reads the 50 most recent; drop older posts)")
        from brandmatch.data.user_import import check_image_refs

        refs = []
        for i, (ref, resolved) in enumerate(zip(posts["image_ref"].tolist(), check_image_refs(posts, src, root))):
            if ref is None or "://" in ref:
                refs.append(ref)
                continue
            p = Path(resolved)
            if not _is_file(p):
                raise DatasetError(f"{where(src, i + 1, 'image_ref')}: no such image file {ref!r} "
                                   f"(paths are relative to {root})")
            _check_image(p, limits, where(src, i + 1, "image_ref"))
            refs.append(str(p.resolve()))
        posts = posts.assign(image_ref=pd.Series(refs, dtype=object))
    return Tables(
        accounts=acc, cooperations=empty_table("cooperations"), splits=empty_table("splits"),
        grids=empty_table("grids"), posts=posts,
        audience=frames.get("audience", empty_table("audience")),
        audience_posts=frames.get("audience_posts", empty_table("audience_posts")),
        detections=frames.get("detections", empty_table("detections")),
    ), {name: str(p) for name, p in files.items()}


# ---------------------------------------------------------------------- (b) instaloader


def _post_stem(p: Path) -> tuple[str, int | None, str] | None:
    """(date stem, sidecar index or None, kind) for an instaloader post file, else None.

    kind: 'image', 'caption', 'json', 'video'."""
    name = p.name
    for suffix, kind in ((".json.xz", "json"), (".json", "json"), (".txt", "caption"), (".mp4", "video"),
                         *((s, "image") for s in _IMAGE_SUFFIXES)):
        if name.lower().endswith(suffix):
            m = _STEM_RE.match(name[: -len(suffix)])
            if m is None:
                return None
            return m.group(1), (int(m.group(2)) if m.group(2) else None), kind
    return None


def _human(n: int) -> str:
    """A byte count as people write it: '20 MB' (whole MiB), '1.5 MB', or '950 bytes'."""
    mb = 1024 * 1024
    if n >= mb:
        return f"{n // mb} MB" if n % mb == 0 else f"{n / mb:.1f} MB"
    return f"{n:,} bytes"


def _read_json_file(p: Path, limits: ProfileLimits) -> dict:
    try:
        if p.name.endswith(".xz"):
            with lzma.open(p, "rb") as f:
                raw = f.read(limits.max_json_bytes + 1)
        else:
            if p.stat().st_size > limits.max_json_bytes:
                raise DatasetError(f"{p}: metadata file larger than {_human(limits.max_json_bytes)}")
            raw = p.read_bytes()
    except (lzma.LZMAError, EOFError) as exc:
        raise DatasetError(f"{p}: not a readable .json.xz file ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    if len(raw) > limits.max_json_bytes:
        raise DatasetError(f"{p}: metadata larger than {_human(limits.max_json_bytes)} once decompressed")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("node"), dict):
        raise DatasetError(f"{where(p, column='node')}: no 'node' object (not instaloader metadata)")
    return obj


def _field(node: dict, *paths: str) -> Any:
    """The first present value among dotted ``paths`` (None when none is present)."""
    for path in paths:
        cur: Any = node
        for key in path.split("."):
            if not isinstance(cur, dict) or key not in cur:
                cur = None
                break
            cur = cur[key]
        if cur is not None:
            return cur
    return None


def _count(node: dict, p: Path, *paths: str) -> int | None:
    value = _field(node, *paths)
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (isinstance(value, float) and not math.isfinite(value)) or value < 0
            or value != int(value)):
        raise DatasetError(f"{where(p, column='node.' + paths[0])}: {value!r} is not a count (an integer >= 0)")
    return int(value)


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:  # a name too long for the file system, ...
        return False


def _check_image(p: Path, limits: ProfileLimits, place: str) -> None:
    from PIL import Image, UnidentifiedImageError

    size = p.stat().st_size
    if size > limits.max_image_bytes:
        raise DatasetError(f"{place}: image {p.name} is {_human(size)}; at most {_human(limits.max_image_bytes)} "
                           "per image")
    try:
        with Image.open(p) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{place}: {p.name} is not a readable image ({exc})") from None
    if w * h > limits.max_image_pixels:
        raise DatasetError(f"{place}: image {p.name} has {w} x {h} pixels; at most {limits.max_image_pixels:,}")


def _instaloader(root: Path, limits: ProfileLimits) -> Tables:
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"images": {}, "caption": None, "json": None, "video": False})
    profile_json: Path | None = None
    for p in sorted(root.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        parsed = _post_stem(p)
        if parsed is None:
            m = _PROFILE_JSON_RE.match(p.name)
            if m is not None and profile_json is None:
                profile_json = p
            continue  # id, profile pictures, _comments.json, _location.txt, other files
        stem, idx, kind = parsed
        g = groups[stem]
        if kind == "image":
            g["images"][idx or 0] = p
        elif kind == "caption":
            g["caption"] = p
        elif kind == "json":
            if g["json"] is None or p.name.endswith(".xz"):
                g["json"] = p
        else:
            g["video"] = True

    # profile: username, bio, followers
    username, bio, followers = None, None, None
    if profile_json is not None:
        meta = _read_json_file(profile_json, limits)
        node = meta["node"]
        username = _field(node, "username")
        bio = _field(node, "biography")
        followers = _count(node, profile_json, "edge_followed_by.count", "follower_count")
        if bio is not None and not isinstance(bio, str):
            raise DatasetError(f"{where(profile_json, column='node.biography')}: expected text, got {type(bio).__name__}")
    if not username:
        username = root.resolve().name
    username = str(username)

    rows = []
    for stem in sorted(groups):
        g = groups[stem]
        node: dict = {}
        if g["json"] is not None:
            meta = _read_json_file(g["json"], limits)
            if str(_field(meta, "instaloader.node_type") or "Post") != "Post":
                continue  # a story item or another structure, not a post
            node = meta["node"]
        if not g["images"] and g["caption"] is None and not node and not g["video"]:
            continue
        caption = None
        if g["caption"] is not None:
            size = g["caption"].stat().st_size
            if size > limits.max_caption_bytes:
                raise DatasetError(f"{g['caption']}: caption file is {_human(size)}; at most {_human(limits.max_caption_bytes)}")
            try:
                caption = g["caption"].read_text(encoding="utf-8").strip() or None
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{g['caption']}: not UTF-8 text (byte {exc.start})") from None
        if caption is None and node:
            text = _field(node, "edge_media_to_caption.edges")
            if isinstance(text, list) and text:
                caption = _field(text[0], "node.text")
            if caption is None and isinstance(node.get("caption"), str):
                caption = node["caption"]
            if caption is not None and not isinstance(caption, str):
                raise DatasetError(f"{where(g['json'], column='node.edge_media_to_caption')}: caption is not text")
        ts = _field(node, "taken_at_timestamp", "date") if node else None
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float))):
            raise DatasetError(f"{where(g['json'], column='node.taken_at_timestamp')}: {ts!r} is not a Unix time")
        if isinstance(ts, float) and not math.isfinite(ts):
            raise DatasetError(f"{where(g['json'], column='node.taken_at_timestamp')}: {ts!r} is not a Unix time")
        if ts is None:
            try:
                ts = calendar.timegm(time.strptime(stem, "%Y-%m-%d_%H-%M-%S"))
            except ValueError:
                first = g["caption"] or (g["images"][min(g["images"])] if g["images"] else root / stem)
                raise DatasetError(f"{first}: {stem}_UTC is not a valid date and time (instaloader names posts "
                                   "<YYYY-MM-DD_hh-mm-ss>_UTC)") from None
        likes = _count(node, g["json"], "edge_media_preview_like.count", "edge_liked_by.count", "like_count") if node else None
        comments = _count(node, g["json"], "edge_media_to_comment.count", "edge_media_to_parent_comment.count",
                          "comment_count") if node else None
        image = None
        if g["images"]:
            first = g["images"][min(g["images"])]
            from brandmatch.data.user_import import _inside

            if not _inside(first, root.resolve()):
                raise DatasetError(f"{first}: the image leads outside the folder {root} (symbolic link)")
            _check_image(first, limits, str(first))
            image = str(first.resolve())
        shortcode = _field(node, "shortcode") if node else None
        post_id = f"{username}-{shortcode}" if isinstance(shortcode, str) and shortcode else f"{username}-{stem}"
        rows.append((post_id, username, caption, int(ts), likes, comments, image))
    if len(rows) > limits.max_posts:
        raise DatasetError(f"{root}: {len(rows)} posts; a brand profile is limited to {limits.max_posts} (the content "
                           "view reads the 50 most recent; remove older posts from the folder)")
    posts = pd.DataFrame(rows, columns=TABLES["posts"].column_names)
    posts = posts.drop_duplicates("post_id", keep="last").reset_index(drop=True)
    accounts = pd.DataFrame({"account_id": [username], "handle": [username], "role": ["brand"],
                             "category": [None], "followers": [followers], "bio": [bio]})
    src = str(root)
    return Tables(
        accounts=validate_table("accounts", accounts, src), cooperations=empty_table("cooperations"),
        splits=empty_table("splits"), grids=empty_table("grids"), posts=validate_table("posts", posts, src),
    )
