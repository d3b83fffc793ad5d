"""taskgroup: should these tasks share a network, and which ones?"""

__version__ = "0.1.0"
