"""monitors/check"""
