"""explainers/lime"""
