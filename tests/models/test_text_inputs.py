"""MORNING's ``text`` parameter: LDA topic shares (the paper's) or TF-IDF words as the text inputs."""

from __future__ import annotations

import pytest

from brandmatch.errors import ModelError
from brandmatch.models import create


def test_text_inputs_map_to_the_feature_views():
    topics = create("morning", recipe="plus")
    assert topics.config["text"] == "topics"
    assert topics.wanted_inputs() == {"c": ("content_visual", "content_text"),
                                      "au": ("audience_visual", "audience_text"), "att": ("attributes",)}
    tfidf = create("morning", recipe="plus", text="tfidf", views=["c", "au"])
    assert tfidf.wanted_inputs() == {"c": ("content_visual", "content_text_tfidf"),
                                     "au": ("audience_visual", "audience_text_tfidf")}


def test_text_errors():
    with pytest.raises(ModelError, match="parameter 'text' = 'bert' is not allowed"):
        create("morning", recipe="plus", text="bert")
    with pytest.raises(ModelError, match="'text' = 'tfidf' is not allowed with the tower term"):
        create("morning", recipe="paper", text="tfidf")
