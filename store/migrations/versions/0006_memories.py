"""context memories and tracked files

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('memories',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('memory_type', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=36), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('hierarchy', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('source', sa.JSON(), nullable=True),
    sa.Column('custom', sa.JSON(), nullable=True),
    sa.Column('unique_key', sa.String(length=64), nullable=True),
    sa.Column('unique_value', sa.String(length=1024), nullable=True),
    sa.Column('file_path', sa.String(length=1024), nullable=True),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    sa.Column('embedding_model', sa.String(length=200), nullable=True),
    sa.Column('created_by_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope_id', 'unique_key', 'unique_value', name='uq_memories_unique_key')
    )
    op.create_index('ix_memories_scope', 'memories', ['scope_id', 'created_at'], unique=False)
    op.create_index('ix_memories_file', 'memories', ['scope_id', 'file_path'], unique=False)
    op.create_table('tracked_files',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=36), nullable=False),
    sa.Column('file_path', sa.String(length=1024), nullable=False),
    sa.Column('file_hash', sa.String(length=64), nullable=False),
    sa.Column('memory_ids', sa.JSON(), nullable=False),
    sa.Column('memory_type', sa.String(length=64), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('last_import', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sync', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope_id', 'file_path', name='uq_tracked_files_path')
    )


def downgrade() -> None:
    op.drop_table('tracked_files')
    op.drop_index('ix_memories_file', table_name='memories')
    op.drop_index('ix_memories_scope', table_name='memories')
    op.drop_table('memories')
