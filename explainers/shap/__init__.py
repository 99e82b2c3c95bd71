"""explainers/shap"""
