"""Real-world corpus: Debian's i386 and amd64 kernel modules, checked against GNU ld.

``fetch`` downloads and unpacks the module trees into a cache, ``depmod``
(in :mod:`insmod_py.depmod`) turns a tree into a symbol source, ``oracle``
links one module with ld at our addresses, and ``run`` drives the whole
corpus and writes the report.
"""
