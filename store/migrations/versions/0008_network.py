"""a project's sandbox network settings

Revision ID: 0008_network
Revises: 0007_secrets
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_network'
down_revision = '0007_secrets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_mode', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('network_allowed_hosts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('network_allowed_hosts')
        batch_op.drop_column('network_mode')
