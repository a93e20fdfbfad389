"""MORNING's ``text`` parameter: LDA topic shares (the paper's) or TF-IDF words as the text inputs."""

from __future__ import annotations

import pytest

from brandmatch.errors import ModelError, ModelUnavailable
from brandmatch.models import create
from tests.models.toy_world import LITE, toy_world


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


def test_attribute_inputs_map_to_the_feature_views():
    assert create("morning", recipe="plus").wanted_inputs()["att"] == ("attributes",)
    assert create("morning", recipe="plus", attributes="kinds").wanted_inputs()["att"] == ("attributes_kinds",)
    assert create("morning", recipe="plus", attributes="both", views=["att"]).wanted_inputs() == \
        {"att": ("attributes", "attributes_kinds")}


def test_attribute_input_errors():
    with pytest.raises(ModelError, match="parameter 'attributes' = 'bert' is not allowed"):
        create("morning", recipe="plus", attributes="bert")
    with pytest.raises(ModelError, match="'attributes' = 'kinds' is not allowed with the tower term"):
        create("morning", recipe="paper", attributes="kinds")


def test_an_input_choice_the_data_lacks_is_unavailable_not_a_different_model():
    feats, co, info, brands, infs = toy_world(drop=("attributes_kinds",))  # and no TF-IDF views
    lite = {k: v for k, v in LITE.items() if k != "recipe"}
    for param, value, view in (("attributes", "kinds", "attributes_kinds"), ("attributes", "both", "attributes_kinds"),
                               ("text", "tfidf", "content_text_tfidf")):
        model = create("morning", recipe=None, **lite, **{param: value})
        with pytest.raises(ModelUnavailable, match=f"parameter '{param}' = '{value}' needs .*{view}"):
            model.fit(co, feats, info=info)
    feats, co, info, brands, infs = toy_world()
    model = create("morning", recipe=None, **lite, attributes="both").fit(co, feats, info=info)
    assert model.layout_["att"] == {"attributes": 7, "attributes_kinds": 4}
