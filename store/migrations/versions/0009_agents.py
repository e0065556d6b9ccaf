"""agents: sessions, usage, budgets, worktrees

Revision ID: 0009_agents
Revises: 0008_network
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_agents'
down_revision = '0008_network'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('budgets',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=True),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('limit_usd', sa.Float(), nullable=False),
    sa.Column('limit_tokens', sa.BigInteger(), nullable=True),
    sa.Column('warned_for', sa.String(length=64), nullable=True),
    sa.Column('exceeded_for', sa.String(length=64), nullable=True),
    sa.Column('updated_by_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope_id', 'period', name='uq_budgets_scope_period')
    )
    op.create_table('worktrees',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('root_task_id', sa.String(length=36), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('branch', sa.String(length=255), nullable=False),
    sa.Column('base_branch', sa.String(length=255), nullable=True),
    sa.Column('base_commit', sa.String(length=64), nullable=False),
    sa.Column('head_commit', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('merge_commit', sa.String(length=64), nullable=True),
    sa.Column('branch_deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('worktrees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worktrees_project_id'), ['project_id'], unique=False)

    op.create_table('agent_steps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('tool_call_id', sa.String(length=200), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('input', sa.JSON(), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id', 'seq', name='uq_agent_steps_seq'),
    sqlite_autoincrement=True
    )
    op.create_table('task_diffs',
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('worktree_id', sa.String(length=36), nullable=False),
    sa.Column('branch', sa.String(length=255), nullable=False),
    sa.Column('base_commit', sa.String(length=64), nullable=False),
    sa.Column('head_commit', sa.String(length=64), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('lines_added', sa.Integer(), nullable=False),
    sa.Column('lines_removed', sa.Integer(), nullable=False),
    sa.Column('patch', sa.Text(), nullable=False),
    sa.Column('truncated', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id')
    )
    op.create_table('task_usage',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cache_read_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cache_write_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=False),
    sa.Column('cost_source', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_usage', schema=None) as batch_op:
        batch_op.create_index('ix_task_usage_organization_day', ['organization_id', 'day'], unique=False)
        batch_op.create_index('ix_task_usage_project_day', ['project_id', 'day'], unique=False)
        batch_op.create_index('ix_task_usage_task', ['task_id'], unique=False)
        batch_op.create_index('ix_task_usage_workspace_day', ['workspace_id', 'day'], unique=False)

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_isolation', sa.String(length=16), server_default='shared', nullable=False))

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_task_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('conversation_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('resume_session_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('session_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('model', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('input_tokens', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('output_tokens', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cache_read_tokens', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cache_write_tokens', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cost_usd', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cost_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('isolation', sa.String(length=16), server_default='shared', nullable=False))
        batch_op.add_column(sa.Column('worktree_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_tasks_conversation', ['conversation_id'], unique=False)
        batch_op.create_index('ix_tasks_parent', ['parent_task_id'], unique=False)
        batch_op.create_index('ix_tasks_worktree', ['worktree_id'], unique=False)
        batch_op.create_foreign_key('fk_tasks_parent_task_id', 'tasks', ['parent_task_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_tasks_worktree_id', 'worktrees', ['worktree_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tasks_worktree_id', type_='foreignkey')
        batch_op.drop_constraint('fk_tasks_parent_task_id', type_='foreignkey')
        batch_op.drop_index('ix_tasks_worktree')
        batch_op.drop_index('ix_tasks_parent')
        batch_op.drop_index('ix_tasks_conversation')
        batch_op.drop_column('worktree_id')
        batch_op.drop_column('isolation')
        batch_op.drop_column('cost_source')
        batch_op.drop_column('cost_usd')
        batch_op.drop_column('cache_write_tokens')
        batch_op.drop_column('cache_read_tokens')
        batch_op.drop_column('output_tokens')
        batch_op.drop_column('input_tokens')
        batch_op.drop_column('model')
        batch_op.drop_column('session_id')
        batch_op.drop_column('resume_session_id')
        batch_op.drop_column('conversation_id')
        batch_op.drop_column('parent_task_id')

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('task_isolation')

    with op.batch_alter_table('task_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_task_usage_workspace_day')
        batch_op.drop_index('ix_task_usage_task')
        batch_op.drop_index('ix_task_usage_project_day')
        batch_op.drop_index('ix_task_usage_organization_day')

    op.drop_table('task_usage')
    op.drop_table('task_diffs')
    op.drop_table('agent_steps')
    with op.batch_alter_table('worktrees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worktrees_project_id'))

    op.drop_table('worktrees')
    op.drop_table('budgets')
