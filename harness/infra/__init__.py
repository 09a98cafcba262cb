"""infra layer"""
