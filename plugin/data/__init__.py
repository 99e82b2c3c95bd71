"""plugin/data"""
