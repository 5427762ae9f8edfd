"""Drop the index on saga_steps (state): no query reads steps by state any more (counts come
from saga_counts and from the live sagas' own rows since 0004; a saga's steps are read by
saga_id), and every step transition paid for keeping it (a step's state changes at each
attempt and outcome: about eight index updates per saga).

Revision ID: 0005
Revises: 0004
"""

from sagakit.migrate import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DDL = """
DROP INDEX IF EXISTS saga_steps_state;
"""


def upgrade() -> None:
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
