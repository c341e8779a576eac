"""Builds Vigil's one compiled module in place: ``make`` runs ``python setup.py build_ext --inplace``.

Vigil is not installed as a package (it runs from this checkout), so this file only declares the Cython
extension; see apps/ingest/fast_traces.pyx for why it exists and docs/architecture.md ("Ingest").
"""

from Cython.Build import cythonize
from setuptools import setup

setup(
    packages=[],
    py_modules=[],
    ext_modules=cythonize(["apps/ingest/fast_traces.pyx"], language_level=3, quiet=True),
)
