"""Template-machinery tests run on fixture data (tests/fixtures), never on the project's.

These override the session fixtures of tests/conftest.py (which read params.yaml, data/schema.yaml
and the project's data) for everything under tests/unit.
"""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec
from tests.fixtures import fixture_frame, fixture_params, fixture_spec


@pytest.fixture(scope="session")
def params() -> Params:
    return fixture_params()


@pytest.fixture(scope="session")
def spec() -> SchemaSpec:
    return fixture_spec()


@pytest.fixture(scope="session")
def raw_frame() -> pd.DataFrame:
    return fixture_frame()
