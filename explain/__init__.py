"""Explanations: SHAP, LIME, Captum Integrated Gradients and attention on one model function.

engine (the batched, cached model function) -> methods (one module per explainer) ->
faithfulness and aggregate (scores and summaries) -> run (chunks for Celery, merged
into report.json's "explanations") -> html (highlights and heatmaps for the report).
Nothing is imported here: the app registry loads this package, and the explainer
libraries are heavy.
"""
