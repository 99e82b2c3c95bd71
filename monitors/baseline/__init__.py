"""monitors/baseline"""
