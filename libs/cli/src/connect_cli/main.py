"""`connect`: Connect's REST API from the command line (jobs, groups, runs, logs, files, YAML job definitions).

Every command prints a table (or `--json`), and exits 0 when it did what it says, 1 with one sentence on stderr
when Connect refused or could not be reached, and 2 on a usage error. `connect jobs run` waits for the run's end
with a live progress bar and exits 0 only when the run succeeded.
"""

from __future__ import annotations

import getpass
import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connect_cli import definitions
from connect_cli.client import Api, CliError, Settings, forget_settings, load_settings, login, save_settings

app = typer.Typer(help="Connect from the command line.", no_args_is_help=True, pretty_exceptions_enable=False)
jobs = typer.Typer(help="Jobs: list, show, run, stop, export and apply YAML definitions.", no_args_is_help=True)
groups = typer.Typer(help="Groups: list, show and run.", no_args_is_help=True)
runs = typer.Typer(help="Runs: list, show, log.", no_args_is_help=True)
files = typer.Typer(help="Files of the hosted file server: list, upload, download.", no_args_is_help=True)
app.add_typer(jobs, name="jobs")
app.add_typer(groups, name="groups")
app.add_typer(runs, name="runs")
app.add_typer(files, name="files")

out = Console()
err = Console(stderr=True)

TERMINAL = {"succeeded", "failed", "stopped", "skipped"}
POLL_S = 0.5
VISIBLE_WITHIN_S = 60.0  # how long a requested run may take to show before `jobs run` gives up following it
CHUNK = 1 << 20
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table")]

P = ParamSpec("P")
R = TypeVar("R")


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a `CliError` into its sentence on stderr and exit status 1."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (CliError, definitions.DefinitionError) as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return run


def api() -> Api:
    settings = load_settings()
    if not settings.token:
        raise CliError("not logged in: run `connect login` (or set CONNECT_TOKEN)")
    return Api(settings)


def print_json(value: Any) -> None:
    out.print_json(json.dumps(value))


def when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")


def seconds(duration_ms: int | None) -> str:
    return "" if duration_ms is None else f"{duration_ms / 1000:.1f} s"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    shown = Table(title=title, title_justify="left")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*("" if v is None else str(v) for v in row))
    out.print(shown)


# ---------------------------------------------------------------------------------------------------- login


@app.command("login")
@reported
def login_command(
    url: Annotated[str | None, typer.Option(help="The gateway's address (default: the saved one)")] = None,
    username: Annotated[str | None, typer.Option(help="Your Connect user name")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin instead of a prompt")] = False,
    token_stdin: Annotated[bool, typer.Option(help="Save an API token read from stdin instead")] = False,
) -> None:
    """Log in: issues an API token for this machine with your password (or saves a token you have)."""
    address = (url or load_settings().url).rstrip("/")
    if token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise CliError("no token on stdin")
        with Api(Settings(url=address, token=token)) as client:
            who = client.get("/api/v1/auth/session")
        path = save_settings(Settings(url=address, token=token, username=who["username"]))
        out.print(f"Logged in to {address} as {who['username']} ({who['role']}); token saved in {path}")
        return
    name = username or typer.prompt("User name")
    secret = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    settings = login(address, name, secret, f"connect CLI on {socket.gethostname()}")
    path = save_settings(settings)
    out.print(f"Logged in to {address} as {name}; token saved in {path}")


@app.command("logout")
@reported
def logout_command() -> None:
    """Revoke the saved token (when this CLI issued it) and forget it."""
    settings = load_settings()
    if settings.token and settings.token_id:
        with Api(settings) as client:
            client.request("DELETE", f"/api/v1/tokens/{settings.token_id}")
    forget_settings()
    out.print("Logged out")


@app.command("whoami")
@reported
def whoami() -> None:
    """Who the saved token belongs to."""
    with api() as client:
        who = client.get("/api/v1/auth/session")
    out.print(f"{who['username']} ({who['role']}) at {client.settings.url}")


# ----------------------------------------------------------------------------------------------------- jobs


@jobs.command("list")
@reported
def jobs_list(as_json: JsonOption = False) -> None:
    """Every job with its state, schedule and last run."""
    with api() as client:
        found = client.get("/api/v1/jobs")
    if as_json:
        print_json(found)
        return
    rows = [
        [
            j["job_id"],
            j["name"],
            j["type"],
            j["state"],
            j["schedule_type"],
            when(j["next_run_at"]),
            j["last_run"],
        ]
        for j in found
    ]
    table("Jobs", ["Job ID", "Name", "Type", "State", "Schedule", "Next run", "Last run"], rows)


@jobs.command("show")
@reported
def jobs_show(job_id: int, as_json: JsonOption = False) -> None:
    """One job with every setting (secrets are never shown)."""
    with api() as client:
        job = client.get(f"/api/v1/jobs/{job_id}")
    if as_json:
        print_json(job)
        return
    plain = {k: v for k, v in job.items() if not isinstance(v, dict | list)}
    table(f"Job {job_id}", ["Field", "Value"], [[k, v] for k, v in plain.items()])
    for key, value in job.items():
        if isinstance(value, dict | list) and value:
            out.print(f"[bold]{key}[/bold]")
            out.print_json(json.dumps(value))


def progress_columns() -> tuple[Any, ...]:
    return (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeElapsedColumn(),
    )


def follow(client: Api, run_key: str, quiet: bool) -> dict[str, Any]:
    """Poll a run until it ends, drawing its stage, bytes and rows; returns its last state."""
    with Progress(*progress_columns(), console=out, disable=quiet, transient=False) as progress:
        task = progress.add_task(f"{run_key} queued", total=None, rows=0)
        unseen_until = time.monotonic() + VISIBLE_WITHIN_S
        while True:
            run = client.find(f"/api/v1/runs/{run_key}")
            if run is None:  # requested; Connect shows it once its request is recorded
                if time.monotonic() > unseen_until:
                    raise CliError(f"run {run_key} was requested but does not show yet: connect runs show {run_key}")
                time.sleep(POLL_S)
                continue
            counts = run["counts"]
            stage = run.get("stage") or run["status"]
            progress.update(
                task,
                description=f"{run_key} {stage}",
                total=run.get("total_bytes"),
                completed=counts["bytes_transferred"],
                rows=f"{counts['rows_read']:,}",
            )
            if run["status"] in TERMINAL:
                if run.get("total_bytes") is None:
                    progress.update(
                        task, total=max(counts["bytes_transferred"], 1), completed=counts["bytes_transferred"] or 1
                    )
                return dict(run)
            time.sleep(POLL_S)


def summary(run: dict[str, Any]) -> None:
    counts = run["counts"]
    line = (
        f"Run {run['run_key']} {run['status']} in {seconds(run.get('duration_ms'))}: {counts['rows_read']:,} read, "
        f"{counts['inserted']:,} inserted, {counts['updated']:,} updated, {counts['rejected']:,} rejected"
    )
    out.print(line, highlight=False, markup=False, soft_wrap=True)
    if run.get("error"):
        err.print(f"{run.get('error_code') or 'error'}: {run['error']}", highlight=False, markup=False, soft_wrap=True)


@jobs.command("run")
@reported
def jobs_run(
    job_id: int,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run to its end (the default)")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, only the outcome")] = False,
) -> None:
    """Run a job now; with --wait (the default) show its progress and exit 0 only when it succeeded."""
    with api() as client:
        started = client.post(f"/api/v1/jobs/{job_id}/run")
        run_key = started["run"]
        if not wait:
            out.print(f"Run {run_key} requested: connect runs show {run_key}")
            return
        run = follow(client, run_key, quiet)
    summary(run)
    if run["status"] != "succeeded":
        raise typer.Exit(1)


@jobs.command("stop")
@reported
def jobs_stop(
    job_id: int, run_id: Annotated[int | None, typer.Argument(help="Default: the running one")] = None
) -> None:
    """Stop a job's running run."""
    with api() as client:
        if run_id is None:
            run_id = client.get(f"/api/v1/jobs/{job_id}")["running_run_id"]
            if run_id is None:
                raise CliError(f"job {job_id} has no run running")
        answer = client.post(f"/api/v1/jobs/{job_id}/runs/{run_id}/stop")
    out.print(f"Stop of run {job_id}.{run_id} requested" + (f": {answer['status']}" if "status" in answer else ""))


@jobs.command("export")
@reported
def jobs_export(
    job_id: int,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout")] = None,
) -> None:
    """A job's definition as YAML, for version control; `connect jobs apply` takes it back."""
    with api() as client:
        job = client.get(f"/api/v1/jobs/{job_id}")
        document = client.get("/openapi.json")
    text = definitions.dump(job, document, client.settings.url)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"Job {job_id} written to {output}")


@jobs.command("apply")
@reported
def jobs_apply(
    file: Annotated[Path, typer.Argument(help="A YAML file written by `connect jobs export` (or by hand)")],
    private_key_file: Annotated[
        Path | None, typer.Option(help="An SFTP source's or destination's private key, kept out of the YAML")
    ] = None,
) -> None:
    """Make a job what a YAML file defines: update the job it names (at its current version), or create one."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {file}") from exc
    job_id, definition = definitions.load(text, str(file))
    if private_key_file is not None:
        try:
            key = private_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {private_key_file}") from exc
        side = "destination" if isinstance(definition.get("destination"), dict) else "source"
        definition.setdefault(side, {})["private_key"] = key
    with api() as client:
        if job_id is None:
            written = client.post("/api/v1/jobs", definition)
            verb = "created"
        else:
            current = client.get(f"/api/v1/jobs/{job_id}")
            document = client.get("/openapi.json")
            if private_key_file is None and definitions.definition_of(current, document) == definition:
                out.print(f"Job {job_id} unchanged (version {current['version']})")
                return
            written = client.put(f"/api/v1/jobs/{job_id}", {**definition, "expected_version": current["version"]})
            verb = "updated"
    out.print(f"Job {written['job_id']} {verb}: version {written['version']}, {written.get('state') or 'saved'}")
    for problem in written.get("errors") or []:
        err.print(f"  {problem.get('field')}: {problem.get('message')}", highlight=False, markup=False, soft_wrap=True)


# --------------------------------------------------------------------------------------------------- groups


@groups.command("list")
@reported
def groups_list(as_json: JsonOption = False) -> None:
    """Every group with its schedule and last run."""
    with api() as client:
        found = client.get("/api/v1/groups")
    if as_json:
        print_json(found)
        return
    rows = [[g["group_id"], g["name"], g["schedule_type"], when(g["next_run_at"]), g["last_run"]] for g in found]
    table("Groups", ["Group ID", "Name", "Schedule", "Next run", "Last run"], rows)


@groups.command("show")
@reported
def groups_show(group_id: int, as_json: JsonOption = False) -> None:
    """One group: its members in order and its recent runs."""
    with api() as client:
        group = client.get(f"/api/v1/groups/{group_id}")
        recent = client.get(f"/api/v1/groups/{group_id}/runs", limit=10)
    if as_json:
        print_json({"group": group, "runs": recent})
        return
    plain = {k: v for k, v in group.items() if not isinstance(v, dict | list)}
    table(f"Group {group_id}", ["Field", "Value"], [[k, v] for k, v in plain.items()])
    table("Members", ["#", "Job ID"], [[m["position"], m["job_id"]] for m in group["members"]])
    rows = [[r["id"], r["status"], when(r["started_at"]), seconds(r["duration_ms"]), r["error"]] for r in recent]
    table("Runs", ["Run", "Status", "Started", "Duration", "Error"], rows)


@groups.command("run")
@reported
def groups_run(group_id: int) -> None:
    """Run a group now (its members one at a time, in order)."""
    with api() as client:
        answer = client.post(f"/api/v1/groups/{group_id}/run")
    out.print(f"Group run requested: {json.dumps(answer)}", highlight=False)


# ----------------------------------------------------------------------------------------------------- runs


@runs.command("list")
@reported
def runs_list(
    job: Annotated[int | None, typer.Option(help="Only this job's runs")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent runs, newest first."""
    with api() as client:
        found = client.get("/api/v1/runs", job_id=job, status=status, limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            r["run_key"],
            r["job_name"],
            r["status"],
            when(r["started_at"]),
            seconds(r["duration_ms"]),
            r["counts"]["rows_read"],
            r["counts"]["rejected"],
        ]
        for r in found
    ]
    table("Runs", ["Run", "Job", "Status", "Started", "Duration", "Rows", "Rejected"], rows)


@runs.command("show")
@reported
def runs_show(run: str, as_json: JsonOption = False) -> None:
    """One run (`JobID.RunID`): status, counts, duration and error."""
    with api() as client:
        found = client.get(f"/api/v1/runs/{run}")
    if as_json:
        print_json(found)
        return
    summary(found)


def log_lines(client: Api, run: str, follow_run: bool) -> Iterator[dict[str, Any]]:
    shown = 0
    while True:
        lines = client.get(f"/api/v1/runs/{run}/log")["lines"]
        yield from lines[shown:]
        shown = len(lines)
        if not follow_run or client.get(f"/api/v1/runs/{run}")["status"] in TERMINAL:
            if follow_run:  # the last lines may have come with the terminal status
                yield from client.get(f"/api/v1/runs/{run}/log")["lines"][shown:]
            return
        time.sleep(POLL_S)


@runs.command("log")
@reported
def runs_log(
    run: str,
    follow_run: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends")] = False,
) -> None:
    """A run's execution log."""
    with api() as client:
        for line in log_lines(client, run, follow_run):
            out.print(
                f"{when(line['at'])}  {line['level']:<7} {line['message']}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )


# ---------------------------------------------------------------------------------------------------- files


@files.command("list")
@reported
def files_list(folder: Annotated[str, typer.Argument(help="A folder: upload, download, archive")] = "") -> None:
    """The files in a folder of the hosted file server."""
    with api() as client:
        found = client.get("/api/v1/files", folder=folder or None)
    rows = [
        [f["path"] + ("/" if f["is_folder"] else ""), "" if f["is_folder"] else f["size"], when(f["modified"])]
        for f in found
    ]
    table(f"Files in /{folder}", ["Path", "Bytes", "Modified"], rows)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


@files.command("upload")
@reported
def files_upload(
    local: Annotated[Path, typer.Argument(help="The file to send", exists=True, dir_okay=False, readable=True)],
    remote: Annotated[str, typer.Argument(help="Where it goes, e.g. upload/contacts.csv")],
) -> None:
    """Upload a file to the hosted file server (streamed)."""
    with api() as client:
        stored = client.request("PUT", f"/api/v1/files/{quote(remote)}", content=_chunks(local)).json()
    out.print(f"Uploaded {stored['path']} ({stored['size']:,} bytes)")


@files.command("download")
@reported
def files_download(
    remote: Annotated[str, typer.Argument(help="A file of the hosted server, e.g. download/gold.csv")],
    local: Annotated[Path | None, typer.Argument(help="Where to write it (default: its name here)")] = None,
) -> None:
    """Download a file from the hosted file server (streamed)."""
    target = local or Path(remote.rsplit("/", 1)[-1])
    if target.is_dir():
        target = target / remote.rsplit("/", 1)[-1]
    with api() as client:
        size = client.stream_to(f"/api/v1/files/{quote(remote)}", target)
    out.print(f"Downloaded {remote} to {target} ({size:,} bytes)")


if __name__ == "__main__":
    app()
