"""A local emulator of the Azure Resource Manager endpoints of Azure Machine Learning computes."""

__version__ = "0.1.0"
