"""monitors/review"""
