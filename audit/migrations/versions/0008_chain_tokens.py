"""Chain the API tokens that exist before token creation was chained

Tokens created since this revision are chained by audit/tokens.py in the transaction that writes
them; a token that existed before it gets its ``create`` link here (and its ``revoke`` link when it
was revoked), so ``audit verify`` can tell an existing token from one a database writer inserted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from audit import chain, tokens

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if 'api_tokens' not in set(sa.inspect(conn).get_table_names()):
        return
    chained = {
        s.partition('/')[0]
        for s in conn.execute(
            sa.select(chain.CHAIN.c.subject).where(chain.CHAIN.c.kind == tokens.CHAIN_KIND)
        ).scalars()
    }
    # Only the columns this revision knows (a later revision may add more to the model).
    cols = [tokens.TOKENS.c[name] for name in (*tokens.CREATE_FIELDS, 'revoked_at')]
    rows = conn.execute(sa.select(*cols).order_by(tokens.TOKENS.c.id)).all()
    links = []
    for row in rows:
        if str(row.id) in chained:
            continue
        links.append(tokens.chain_link(row._mapping, 'create'))
        if row.revoked_at is not None:
            links.append(tokens.chain_link(row._mapping, 'revoke'))
    if links:
        chain.append(conn, links, datetime.now(UTC))


def downgrade() -> None:
    # Chain entries are never removed: a downgrade keeps the links (verification of an older
    # schema ignores the kind it does not know).
    pass
