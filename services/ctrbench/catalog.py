"""The ad -> campaign mapping: generated from the run seed, stored in PostgreSQL, read by producers.

Ad ids are UUIDs drawn from the seed, so the same configuration yields the same catalog
everywhere. Campaign ids are 1..NUM_CAMPAIGNS; each ad has one ad type.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import numpy as np
import psycopg2
import psycopg2.extras

from ctrbench.errors import ServiceUnavailable
from ctrbench.preflight import check_password
from ctrbench.schema import AD_TYPES
from ctrbench.settings import PostgresSettings

__all__ = ["AdCatalog", "TABLE", "generate", "read_catalog", "write_catalog"]

logger = logging.getLogger(__name__)

TABLE = "ad_campaign"
_CATALOG_STREAM = 0xCA7A  # separates the catalog's random stream from the producers'


@dataclass(frozen=True)
class AdCatalog:
    """Parallel arrays: ``ad_ids[i]`` belongs to ``campaign_ids[i]`` and has ``ad_types[i]``."""

    ad_ids: tuple[str, ...]
    campaign_ids: np.ndarray
    ad_types: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ad_ids)

    def as_mapping(self) -> dict[str, int]:
        """ad_id -> campaign_id."""
        return dict(zip(self.ad_ids, self.campaign_ids.tolist(), strict=True))


def generate(seed: int, num_campaigns: int, ads_per_campaign: int) -> AdCatalog:
    """The catalog of a run: ``num_campaigns x ads_per_campaign`` ads, deterministic in ``seed``."""
    rng = np.random.default_rng([seed, _CATALOG_STREAM])
    n = num_campaigns * ads_per_campaign
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    ad_ids = tuple(str(uuid.UUID(int=(int(hi) << 64 | int(lo)), version=4)) for hi, lo in raw)
    campaign_ids = np.repeat(np.arange(1, num_campaigns + 1, dtype=np.int64), ads_per_campaign)
    ad_types = tuple(AD_TYPES[i] for i in rng.integers(0, len(AD_TYPES), size=n))
    return AdCatalog(ad_ids, campaign_ids, ad_types)


def _connect(pg: PostgresSettings):  # type: ignore[no-untyped-def]
    check_password(pg)
    try:
        return psycopg2.connect(**pg.dsn())
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise ServiceUnavailable(
            f"PostgreSQL unreachable at {pg.postgres_host}:{pg.postgres_port} "
            f"(db {pg.postgres_db}, user {pg.postgres_user}): {first}"
        ) from None


def write_catalog(pg: PostgresSettings, catalog: AdCatalog) -> None:
    """Replace the mapping table's contents with ``catalog`` in one transaction."""
    conn = _connect(pg)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                "ad_id TEXT PRIMARY KEY, campaign_id INTEGER NOT NULL, ad_type TEXT NOT NULL)"
            )
            cur.execute(f"TRUNCATE {TABLE}")
            rows = zip(catalog.ad_ids, catalog.campaign_ids.tolist(), catalog.ad_types, strict=True)
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO {TABLE} (ad_id, campaign_id, ad_type) VALUES %s", rows, page_size=5000
            )
    finally:
        conn.close()
    logger.info("wrote %d ads in %d campaigns to PostgreSQL table %s",
                len(catalog), len(set(catalog.campaign_ids.tolist())), TABLE)


def read_catalog(pg: PostgresSettings) -> AdCatalog:
    """Load the mapping (ordered by ad_id so every reader sees the same order)."""
    conn = _connect(pg)
    try:
        with conn, conn.cursor() as cur:
            try:
                cur.execute(f"SELECT ad_id, campaign_id, ad_type FROM {TABLE} ORDER BY ad_id")
            except psycopg2.errors.UndefinedTable:
                raise ServiceUnavailable(
                    f"PostgreSQL has no table {TABLE}: run `ctrbench setup` (or `ctrbench run`) first"
                ) from None
            rows = cur.fetchall()
    finally:
        conn.close()
    if not rows:
        raise ServiceUnavailable(f"PostgreSQL table {TABLE} is empty: run `ctrbench setup` first")
    ad_ids, campaigns, types = zip(*rows, strict=True)
    return AdCatalog(tuple(ad_ids), np.asarray(campaigns, dtype=np.int64), tuple(types))
