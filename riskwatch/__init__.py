"""riskwatch: risk and compliance monitoring for deployed AI models."""

__all__ = ["__version__"]
__version__ = "0.1.0"
