"""workflow executions, and the execution a step task belongs to

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workflow_executions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workflow_id', sa.String(length=36), nullable=False),
    sa.Column('workflow_name', sa.String(length=200), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('workflow_version_id', sa.String(length=36), nullable=True),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('phases', sa.JSON(), nullable=False),
    sa.Column('current_phase', sa.Integer(), nullable=False),
    sa.Column('input_parameters', sa.JSON(), nullable=True),
    sa.Column('triggered_by', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_workflow_executions_project_created', 'workflow_executions', ['project_id', 'created_at'])
    op.create_index('ix_workflow_executions_workflow', 'workflow_executions', ['workflow_id'])
    op.create_index('ix_workflow_executions_status', 'workflow_executions', ['status'])
    op.add_column('tasks', sa.Column('execution_id', sa.String(length=36), nullable=True))
    op.create_index('ix_tasks_execution', 'tasks', ['execution_id'])


def downgrade() -> None:
    op.drop_index('ix_tasks_execution', table_name='tasks')
    op.drop_column('tasks', 'execution_id')
    op.drop_table('workflow_executions')
