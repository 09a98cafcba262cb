"""ops layer"""
