"""model layer"""
