"""The deployment scripts under ``deploy/`` as modules, for the tests (deploy/ is no package)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from types import ModuleType

from tests.support.servers import ROOT

SAGEMAKER_SCRIPT = ROOT / "deploy" / "sagemaker" / "deploy.py"


@functools.cache
def load_sagemaker_deploy() -> ModuleType:
    """``deploy/sagemaker/deploy.py``, imported once."""
    spec = importlib.util.spec_from_file_location("sagemaker_deploy", SAGEMAKER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
