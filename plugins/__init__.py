"""Built-in plugins of visionhooks, each registered through the ``visionhooks`` entry-point
group exactly like a third party's.

Why this module is callable: DESIGN.md promises both ``vh.plugins()`` (list the
discovered plugins) and the import name ``visionhooks.plugins.<plugin>``. Importing a
subpackage binds ``visionhooks.plugins`` to this package, replacing the function, so
this package answers ``vh.plugins()`` the same way the function does.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self):
        """Every discovered plugin (see ``visionhooks.plugins``' function form)."""
        from visionhooks.manager import host

        return host().plugins()


sys.modules[__name__].__class__ = _CallablePackage
