"""Survey methods, one module each, registered with their taxonomy class and lifecycle stage."""

from .registry import MethodInfo, all_methods, get_method, register

__all__ = ["MethodInfo", "all_methods", "get_method", "register"]
