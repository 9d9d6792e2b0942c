# From boltons==26.2.0, boltons/deprutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)
from types import ModuleType
from warnings import warn


class DeprecatableModule(ModuleType):
    def __init__(self, module):
        name = module.__name__
        super().__init__(name=name)
        self.__dict__.update(module.__dict__)

    def __getattribute__(self, name):
        get_attribute = super().__getattribute__
        try:
            depros = get_attribute('_deprecated_members')
        except AttributeError:
            self._deprecated_members = depros = {}
        ret = get_attribute(name)
        message = depros.get(name)
        if message is not None:
            warn(message, DeprecationWarning, stacklevel=2)
        return ret
