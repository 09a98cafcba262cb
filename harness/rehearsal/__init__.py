"""rehearsal layer"""
