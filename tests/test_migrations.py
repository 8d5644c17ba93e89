"""A database made by the migrations before the restructure upgrades without loss."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_THE_MOVE = [("distribution", "0008_releasedaystats_day"), ("tracker", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_it_keeps_every_passkey_when_passkeys_move_to_distribution():
    old = migrate(BEFORE_THE_MOVE)
    User = old.get_model("auth", "User")
    user = User.objects.create(username="early-adopter")
    old.get_model("tracker", "Passkey").objects.create(user=user, key="a" * 32)
    assert "tracker_passkey" in connection.introspection.table_names()

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    new = migrate(latest)

    tables = connection.introspection.table_names()
    assert "tracker_passkey" not in tables and "distribution_passkey" in tables
    moved = new.get_model("distribution", "Passkey").objects.get()
    assert (moved.user.username, moved.key) == ("early-adopter", "a" * 32)


@pytest.mark.django_db(transaction=True)
def test_it_moves_passkeys_back_when_the_upgrade_is_undone():
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    new_apps = migrate(
        [("distribution", "0009_passkey_from_tracker"), ("tracker", "0002_passkey_to_distribution")]
    )
    user = new_apps.get_model("auth", "User").objects.create(username="undoer")
    new_apps.get_model("distribution", "Passkey").objects.create(user=user, key="b" * 32)

    old = migrate(BEFORE_THE_MOVE)

    assert old.get_model("tracker", "Passkey").objects.get().key == "b" * 32
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
