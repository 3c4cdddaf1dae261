"""Stageline: self-hosted continuous delivery that speaks AWS CodePipeline's API."""

__version__ = "0.1.0"
