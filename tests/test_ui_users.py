"""The users and roles `make up` configures: names and roles checked, passwords generated once and kept, never
a fixed default, and what `make up` prints about them."""

from __future__ import annotations

import json
import stat

import pytest

from devtools import airflow_home
from devtools.cli import up_lines


def test_make_up_has_a_viewer_and_an_operator_who_may_trigger_but_not_change_connections():
    assert airflow_home.UI_USERS == {"admin": "admin", "viewer": "viewer", "operator": "user"}
    env = airflow_home.ui_env(airflow_home.DEFAULT_HOME, 8080, "s" * 64)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,viewer:viewer,operator:user"


def test_more_users_are_parsed_and_checked():
    assert airflow_home.parse_users(" alice:viewer, bob.smith:user,,carol:op ") == {
        "alice": "viewer", "bob.smith": "user", "carol": "op"}
    assert airflow_home.parse_users("") == {}
    with pytest.raises(ValueError, match="role must be one of viewer, user, op, admin"):
        airflow_home.parse_users("alice:operator")
    with pytest.raises(ValueError, match="a name of letters"):
        airflow_home.parse_users("al ice:viewer")
    with pytest.raises(ValueError, match="role must be one of"):
        airflow_home.parse_users("alice")


def test_passwords_are_generated_once_kept_and_private(tmp_path):
    users = dict(airflow_home.UI_USERS)
    first, generated = airflow_home.ui_passwords(tmp_path, users, None)
    assert generated == ["admin", "viewer", "operator"] and len(set(first.values())) == 3
    assert all(len(pw) >= 12 for pw in first.values())
    path = tmp_path / "passwords.json"
    assert json.loads(path.read_text()) == first and stat.S_IMODE(path.stat().st_mode) == 0o600

    again, generated = airflow_home.ui_passwords(tmp_path, {**users, "alice": "viewer"}, None)
    assert generated == ["alice"] and {k: again[k] for k in users} == first  # kept; only the new one made

    given, generated = airflow_home.ui_passwords(tmp_path, users, "Given-Admin-Pw-1")
    assert generated == [] and given["admin"] == "Given-Admin-Pw-1" and given["viewer"] == first["viewer"]


def test_make_up_shows_each_user_and_a_new_password_once(tmp_path):
    passwords = {"admin": "a" * 16, "viewer": "v" * 16, "operator": "o" * 16}
    ui = airflow_home.UiStack(home=tmp_path, port=8080, users=dict(airflow_home.UI_USERS), passwords=passwords,
                              generated=("viewer", "operator"))
    lines = up_lines(ui, admin_password_given=True)
    assert lines[0] == ("Airflow UI:   http://127.0.0.1:8080  "
                        f"(users below; passwords kept in {tmp_path}/passwords.json)")
    assert lines[1].split() == ["admin", "role", "admin", "password", "METRICS_REPLAY_ADMIN_PASSWORD"]
    assert lines[2].split()[:5] == ["viewer", "role", "viewer", "password", "v" * 16]
    assert lines[3].split()[:5] == ["operator", "role", "user", "password", "o" * 16]
    assert "a" * 16 not in "\n".join(lines)  # a password not generated now is not shown again
    later = up_lines(airflow_home.UiStack(home=tmp_path, port=8080, users=dict(airflow_home.UI_USERS),
                                          passwords=passwords, generated=()), admin_password_given=False)
    assert not any(pw in "\n".join(later) for pw in passwords.values())
