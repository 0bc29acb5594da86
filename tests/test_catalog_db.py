"""The ad -> campaign mapping round-trips through the real PostgreSQL."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ctrbench import catalog
from ctrbench.errors import ServiceUnavailable

pytestmark = pytest.mark.integration


def test_write_then_read_gives_the_same_mapping(postgres_settings):
    generated = catalog.generate(11, 10, 100)
    catalog.write_catalog(postgres_settings, generated)
    catalog.write_catalog(postgres_settings, generated)  # idempotent: replaces, does not append

    read = catalog.read_catalog(postgres_settings)

    assert len(read) == 1000
    assert read.as_mapping() == generated.as_mapping()
    assert dict(zip(read.ad_ids, read.ad_types, strict=True)) == dict(
        zip(generated.ad_ids, generated.ad_types, strict=True))


def test_wrong_password_names_the_server(postgres_settings):
    bad = postgres_settings.model_copy(update={"postgres_password": SecretStr("wrong")})
    with pytest.raises(ServiceUnavailable, match=rf"PostgreSQL unreachable at 127.0.0.1:{bad.postgres_port}"):
        catalog.read_catalog(bad)
