"""replicas: leases on tasks and executions, the replica registry, sandbox hosts, the memory change log

Revision ID: 0010_replicas
Revises: 0009_agents
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_replicas'
down_revision = '0009_agents'
branch_labels = None
depends_on = None

LEASE_TABLES = ('tasks', 'workflow_executions')


def upgrade() -> None:
    for table in LEASE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column('lease_fence', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('trace_context', sa.String(length=128), nullable=True))
    with op.batch_alter_table('sandboxes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('host', sa.String(length=64), nullable=True))
    with op.batch_alter_table('sandbox_operations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replica_id', sa.String(length=64), nullable=True))

    op.create_table('replicas',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_replicas_name', 'replicas', ['name'], unique=False)
    op.create_index('ix_replicas_lease_expires_at', 'replicas', ['lease_expires_at'], unique=False)

    op.create_table('sandbox_reservations',
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_index('ix_sandbox_reservations_host', 'sandbox_reservations', ['host'], unique=False)

    op.create_table('memory_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('memory_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index('ix_memory_changes_created_at', 'memory_changes', ['created_at'], unique=False)

    op.create_table('cluster_settings',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )

    if op.get_bind().dialect.name == 'postgresql':
        # Event ids are 64-bit: at one event per output line a busy cluster exhausts 32 bits within weeks.
        op.execute('ALTER TABLE events ALTER COLUMN id TYPE BIGINT')
        op.execute("ALTER SEQUENCE IF EXISTS events_id_seq AS BIGINT")


def downgrade() -> None:
    op.drop_table('cluster_settings')
    op.drop_index('ix_memory_changes_created_at', table_name='memory_changes')
    op.drop_table('memory_changes')
    op.drop_index('ix_sandbox_reservations_host', table_name='sandbox_reservations')
    op.drop_table('sandbox_reservations')
    op.drop_index('ix_replicas_lease_expires_at', table_name='replicas')
    op.drop_index('ix_replicas_name', table_name='replicas')
    op.drop_table('replicas')
    with op.batch_alter_table('sandbox_operations', schema=None) as batch_op:
        batch_op.drop_column('replica_id')
    with op.batch_alter_table('sandboxes', schema=None) as batch_op:
        batch_op.drop_column('host')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('trace_context')
        batch_op.drop_column('cancel_requested')
    for table in LEASE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('lease_fence')
            batch_op.drop_column('lease_expires_at')
            batch_op.drop_column('lease_owner')
