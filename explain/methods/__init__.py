"""The four explainers, one module each, all returning explain.attribution.Attribution.

Units: SHAP, Integrated Gradients and attention score the model's tokens (word pieces);
LIME scores the words of the raw text. `extra["unit"]` says which, `extra["spans"]`
where each unit sits in the model input.
"""
from explain.methods.attention import attention_explain
from explain.methods.integrated_gradients import ig_explain
from explain.methods.lime_words import lime_explain
from explain.methods.shapley import shap_explain

__all__ = ["attention_explain", "ig_explain", "lime_explain", "shap_explain"]
