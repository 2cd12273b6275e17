"""Explainers (SHAP, LIME, Captum, attention); filled in by the explanations work."""
