"""Builds Vigil's compiled modules in place: ``make`` runs ``python setup.py build_ext --inplace``.

Vigil is not installed as a package (it runs from this checkout), so this file only declares the Cython
extensions; each module's docstring says why it exists.
"""

from glob import glob

from Cython.Build import cythonize
from setuptools import setup

setup(
    packages=[],
    py_modules=[],
    ext_modules=cythonize(sorted(glob("apps/*/*.pyx")), language_level=3, quiet=True),
)
