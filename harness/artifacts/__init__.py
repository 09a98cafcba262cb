"""artifacts layer"""
