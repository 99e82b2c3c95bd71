"""plugin/report"""
