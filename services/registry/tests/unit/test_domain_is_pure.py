"""The registry's domain imports no I/O library (CONVENTIONS.md habit 1)."""

import ast
from pathlib import Path

import folio.registry.domain as domain

FORBIDDEN = ("sqlalchemy", "faststream", "httpx", "asyncpg", "aiokafka", "fastapi")


def test_domain_modules_import_no_io_libraries():
    modules = list(Path(domain.__file__).parent.glob("*.py"))
    assert len(modules) >= 4
    for module in modules:
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{module.name} imports {name}"
