"""Safe among teammates (issue 21): what one teammate's files, names or requests can do to the rest.

Each test replays an attack against real files, real processes and, where the item is
about serving, a real `envboard serve` on a loopback port.
"""

import subprocess

from tests.conftest import write_project, write_workspace


def test_a_pasted_command_does_not_run_what_a_folder_name_holds(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["p/$(touch PWNED)"])
    write_project(root / "p" / "$(touch PWNED)", "evil", mode="persistent_uv")
    client = make_app(root).test_client()
    project_id = client.get("/api/projects").get_json()["projects"][0]["id"]
    commands = client.get(f"/api/projects/{project_id}").get_json()["commands"]
    assert set(commands) == {"plugin probe", "sync"}
    shell = tmp_path / "shell"
    shell.mkdir()
    for command in commands.values():
        # as a person pastes it: into a shell, in some folder of theirs; the command's own
        # cd must land in the project (pwd prints it) and nothing in the name may run
        pasted = command.replace(" && ", " && pwd && exit 0 && ", 1)
        done = subprocess.run(["bash", "-c", pasted], cwd=shell, capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() == str(root / "p" / "$(touch PWNED)"), (command, done.stderr)
    assert not list(tmp_path.rglob("PWNED"))
