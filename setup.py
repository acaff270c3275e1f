"""The optional native kernels (``plugins/layers/native``): everything else is declared in
pyproject.toml. Built against the XLA FFI headers that jaxlib ships; where there is no C++
compiler or no jaxlib, the build skips it and the fast layers use XLA's kernels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildNative(build_ext):
    """Adds jaxlib's include folder (found without importing jaxlib) to the build."""

    def build_extensions(self):
        spec = importlib.util.find_spec("jaxlib")
        include = spec and spec.submodule_search_locations and Path(
            next(iter(spec.submodule_search_locations))) / "include"
        if not include or not (include / "xla" / "ffi" / "api" / "ffi.h").is_file():
            print("visionhooks: jaxlib's XLA FFI headers not found; skipping the native kernels")
            self.extensions = []
            return
        for ext in self.extensions:
            ext.include_dirs.append(str(include))
        super().build_extensions()

    def get_export_symbols(self, ext):
        return []  # a plain shared library loaded with ctypes, not a Python module


setup(
    ext_modules=[Extension(
        "visionhooks.plugins.layers._native",
        sources=["plugins/layers/native/conv_forward.cc",
                 "plugins/layers/native/conv_kernel_grad.cc"],
        depends=["plugins/layers/native/common.h"],
        language="c++",
        extra_compile_args=["-O3", "-std=c++17", "-g0"],  # no debug info: 1.3 -> 0.17 MB
        optional=True,
    )],
    cmdclass={"build_ext": BuildNative},
)
