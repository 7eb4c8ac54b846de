"""Build hook for the out-of-line cffi bindings (limpet.core._native).

Everything else lives in pyproject.toml; setuptools needs this file only to learn about
``cffi_modules``, which compiles the bindings once at install time so that pycparser is
never imported when limpet runs.
"""

from setuptools import setup

setup(cffi_modules=["core/native_build.py:ffibuilder",
                    "plugins/seccomp/_libseccomp_build.py:ffibuilder"])
