"""Code shared by test modules (page builders, free ports, fault injection, snapshots).

``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so test modules import these as
``from helpers.<topic> import ...``. Test modules never import each other.
"""
