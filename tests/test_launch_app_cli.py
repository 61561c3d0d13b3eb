"""Workers started through the project's own command line (`pgforklint.launch.app_cli`): console scripts, click,
typer and Flask groups followed word by word, what a command function starts, and the failed step (PGF102).
End-to-end shapes are fixtures (`tests/fixtures/launch_app_cli_*`, `ok_app_cli_*`)."""

from __future__ import annotations

from pathlib import Path

from projects import project, tree

from pgforklint.analyze import build_model
from pgforklint.launch import all_launches
from pgforklint.launch.app_cli import AppCommand, console_scripts

WORKER = """\
import click
from redis import Redis
from rq import Queue, Worker


@click.group()
@click.option("-c", "--config")
@click.option("--verbose", is_flag=True)
def cli():
    pass


@cli.command()
def run_worker():
    Worker([Queue("default", connection=Redis())], connection=Redis()).work()


@cli.command(name="export")
def export_rows():
    click.echo("done")
"""


def launch_named(root: Path, name: str):
    return next(launch for launch in all_launches(project(root)) if launch.name == name)


def test_console_scripts_come_from_pyproject_setup_cfg_and_setup_py(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "pyproject.toml": '[project]\nname = "a"\n[project.scripts]\nalpha = "alpha.cli:main"\n'
                          '[tool.poetry.scripts]\nbeta = "beta.cli:app"\n',
        "setup.cfg": "[options.entry_points]\npytest11 =\n    x = x.plugin\nconsole_scripts =\n"
                     "    gamma = gamma.cli:cli\n    delta = delta.main:run [extra]\n\n[egg_info]\ntag_build =\n",
        "setup.py": "from setuptools import setup\n\nsetup(entry_points={'console_scripts': ['epsilon = eps.cli:go']})\n",
    })
    assert console_scripts(project(root)) == {"alpha": "alpha.cli:main", "beta": "beta.cli:app", "gamma": "gamma.cli:cli",
                                              "delta": "delta.main:run", "epsilon": "eps.cli:go"}


def test_a_command_is_named_after_its_function_with_dashes_and_declared_options_take_their_value(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "worker: python manage.py -c prod.ini --verbose run-worker\n",
        "manage.py": WORKER + '\n\nif __name__ == "__main__":\n    cli()\n',
    })
    launch = launch_named(root, "worker")
    command = launch.extra["app_cli"]
    assert isinstance(command, AppCommand)
    assert (command.words, command.module, command.function, command.entry_is_main) == (
        "manage.py run-worker", "manage", "run_worker", True)
    assert command.callbacks == [("manage", "cli")]  # the group's callback runs before the command
    assert not launch.failed


def test_a_command_that_starts_no_worker_is_left_alone(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "export: python manage.py export\n",
        "manage.py": WORKER + '\n\nif __name__ == "__main__":\n    cli()\n',
    })
    launch = launch_named(root, "export")
    assert "app_cli" not in launch.extra and not launch.failed
    assert not [row for row in build_model(project(root)).coverage.process_types if row.failed]


def test_a_missing_subcommand_is_the_failed_step_with_the_commands_the_group_has(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "worker: python manage.py -c prod.ini worker\n",
        "manage.py": WORKER + '\n\nif __name__ == "__main__":\n    cli()\n',
    })
    (row,) = build_model(project(root)).coverage.process_types
    assert row.failed == [("`manage.py worker`: no command `worker` under the click group `cli` in manage.py "
                           "(its commands: `export`, `run_worker`)")]


def test_no_failed_step_without_worker_code_or_before_the_last_command(tmp_path: Path) -> None:
    files = {
        "Procfile": "web: python manage.py migrate-all && gunicorn app:app\nrelease: python manage.py migrate-all\n"
                    "worker: python manage.py rq worker\n",
        "app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
        "manage.py": "import click\n\n\n@click.group()\ndef cli():\n    pass\n\n\nif __name__ == '__main__':\n    cli()\n",
    }
    root = tree(tmp_path, files)
    assert not [launch.failed for launch in all_launches(project(root)) if launch.failed]  # no code can start a worker
    root = tree(tmp_path, {"jobs.py": "from rq import Worker\n\n\ndef run(queues):\n    Worker(queues).work()\n"})
    failed = {launch.name: launch.failed for launch in all_launches(project(root))}
    assert failed["web"] == []  # `migrate-all` is not the process: gunicorn is
    assert failed["release"] == []  # a word that names no command and says nothing of a worker: not a worker
    assert failed["worker"] == ["`manage.py rq`: no command `rq` under the click group `cli` in manage.py"]


def test_groups_added_from_other_modules_and_worker_subclasses_elsewhere_are_followed(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "deploy/worker.conf": "[program:jobs]\ncommand=/opt/venv/bin/shop --env prod queue start high\n",
        "pyproject.toml": '[project]\nname = "shop"\n[project.scripts]\nshop = "shop.cli:main"\n',
        "shop/__init__.py": "",
        "shop/cli.py": """\
            import click

            from shop import queue_commands


            @click.group()
            def main():
                pass


            main.add_command(queue_commands.queue_group, "queue")
        """,
        "shop/queue_commands.py": """\
            import click

            from shop.workers import start_worker


            @click.group()
            def queue_group():
                pass


            @queue_group.command("start")
            @click.argument("names", nargs=-1)
            def start(names):
                start_worker(names)
        """,
        "shop/workers.py": """\
            from shop.base import ShopWorker


            def start_worker(names):
                ShopWorker(names).work()
        """,
        "shop/base.py": "import rq\n\n\nclass ShopWorker(rq.Worker):\n    pass\n",
    })
    command = launch_named(root, "jobs").extra["app_cli"]
    assert (command.words, command.module, command.function, command.entry) == (
        "shop queue start", "shop.queue_commands", "start", "shop.cli")
    (row,) = build_model(project(root)).coverage.process_types
    assert (row.server, row.forks, row.app, row.app_file, row.failed) == (
        "rq", True, "shop.queue_commands:start", "shop/queue_commands.py", [])


def test_a_simple_worker_and_a_scheduler_are_not_forking_launches(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "inline: python manage.py inline\nscheduler: python manage.py scheduler\n",
        "manage.py": """\
            import click
            from rq import SimpleWorker
            from rq_scheduler import Scheduler


            @click.group()
            def cli():
                pass


            @cli.command()
            def inline():
                SimpleWorker(["quick"]).work()


            @cli.command()
            def scheduler():
                Scheduler().run()


            if __name__ == "__main__":
                cli()
        """,
    })
    for launch in all_launches(project(root)):
        assert "app_cli" not in launch.extra and not launch.failed
    assert build_model(project(root)).coverage.process_types == []


def test_flask_commands_of_installed_extensions_are_not_failed_steps(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "worker: flask --app notes jobs worker\ndigest: flask --app notes digest send\n",
        "notes/__init__.py": """\
            from flask import Flask


            def create_app():
                app = Flask(__name__)
                from notes.commands import jobs

                app.cli.add_command(jobs)
                return app
        """,
        "notes/commands.py": """\
            from flask.cli import AppGroup
            from rq import Worker

            jobs = AppGroup("jobs")


            @jobs.command("worker")
            def start():
                Worker(["default"]).work()
        """,
    })
    launches = {launch.name: launch for launch in all_launches(project(root))}
    command = launches["worker"].extra["app_cli"]
    assert (command.module, command.function, command.entry) == ("notes.commands", "start", "notes")
    assert command.callbacks == [("notes", "create_app")]  # Flask calls the factory before the command
    assert "app_cli" not in launches["digest"].extra and not launches["digest"].failed


def test_a_typer_app_with_one_command_runs_it_without_a_command_word(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "worker: python -m jobs --queue high\n",
        "jobs/__init__.py": "",
        "jobs/__main__.py": """\
            import typer
            from rq import Worker

            app = typer.Typer()


            @app.command()
            def work(queue: str = "default"):
                Worker([queue]).work()


            app()
        """,
    })
    command = launch_named(root, "worker").extra["app_cli"]
    assert (command.module, command.function) == ("jobs.__main__", "work")


def test_flask_rq2_worker_loads_the_app_and_needs_to_find_it(tmp_path: Path) -> None:
    app = "from flask import Flask\nfrom flask_rq2 import RQ\n\n\ndef create_app():\n    app = Flask(__name__)\n" \
          "    RQ(app)\n    return app\n"
    root = tree(tmp_path, {"Procfile": "worker: flask --app calls rq worker\n", "calls/__init__.py": app})
    command = launch_named(root, "worker").extra["app_cli"]
    assert (command.words, command.module, command.function, command.callbacks) == (
        "flask rq worker", "calls", "", [("calls", "create_app")])
    (row,) = build_model(project(root)).coverage.process_types
    assert (row.server, row.forks, row.app_file, row.failed) == ("rq", True, "calls/__init__.py", [])

    (tmp_path / "Procfile").write_text("worker: flask rq worker\n")  # no FLASK_APP, no app.py: Flask finds no app
    assert launch_named(root, "worker").failed == [
        ("`flask rq worker` (Flask-RQ2) loads the Flask app first: no `FLASK_APP` or `--app` in the repository, "
         "and no `wsgi.py` or `app.py` where the process runs")]

    (tmp_path / "Procfile").write_text("worker: flask --app calls rq worker\n")
    (tmp_path / "calls/settings.py").write_text('RQ_WORKER_CLASS = "rq.SimpleWorker"\n')  # runs jobs in the worker
    launch = launch_named(root, "worker")
    assert "app_cli" not in launch.extra and not launch.failed


def test_an_option_callback_of_a_group_runs_before_the_group_and_the_command(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "worker: python manage.py -c prod.ini jobs\n",
        "manage.py": """\
            import click
            from rq import Worker


            def load_config(ctx, param, value):
                ctx.obj = value


            @click.group()
            @click.option("-c", "--config", callback=load_config, is_eager=True, expose_value=False)
            def cli():
                pass


            @cli.command()
            def jobs():
                Worker(["default"]).work()


            if __name__ == "__main__":
                cli()
        """,
    })
    assert launch_named(root, "worker").extra["app_cli"].callbacks == [("manage", "load_config"), ("manage", "cli")]


def test_a_flask_group_s_own_commands_are_no_failed_step(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "web: python manage.py run --host 0.0.0.0\nworker: python manage.py celery worker\n",
        "manage.py": "from flask.cli import FlaskGroup\n\ncli = FlaskGroup(help='shop')\n\n"
                     "if __name__ == '__main__':\n    cli.main()\n",
        "shop/__init__.py": "", "shop/tasks.py": "from celery import Celery\n\ncelery = Celery('shop')\n",
    })
    failed = {launch.name: launch.failed for launch in all_launches(project(root))}
    assert failed["web"] == []  # Flask's development server, which a FlaskGroup brings along
    assert failed["worker"] == ["`manage.py celery`: no command `celery` under the FlaskGroup `cli` in manage.py"]
