"""checks layer"""
