"""hooks/patches"""
