"""Data files shipped with brandmatch (read with importlib.resources).

- ``categories_places365.txt``: the 365 Places365 scene categories in class order ("/a/airfield 0"),
  written from the official CSAILVision/places365 repository (``categories_hybrid1365.txt``,
  lines 1000-1364, re-indexed 0-364; identical to its standard ``categories_places365.txt``).
"""
