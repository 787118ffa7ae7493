"""The pytest plugin: options, the `kata` and `device` fixtures, attempt recording, summary.

A thin shell over the pure core (sm2, grading, attempts, progress). One class of hooks,
registered in pytest_configure, in the manner of pytest's own cacheprovider. Only the xdist
controller (or a plain, non-distributed run) writes progress.toml; workers report what they
collected through `workeroutput`, and every test report reaches the controller anyway.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from dojo import attempts, clock, devices, loading, scheduling
from dojo import catalog as catalog_mod
from dojo.progress import ProgressError, ProgressStore, default_path


def pytest_addoption(parser):
    group = parser.getgroup("dojo", "ML Katas")
    group.addoption(
        "--impl", default="starter", metavar="starter|solution|pristine|PATH",
        help="what the kata tests import: your starter (default), the reference solution, "
             "the pristine starter generated from it (which must fail), or any .py file "
             "(an archived attempt, say)")
    group.addoption(
        "--device", default=None, metavar="auto|cpu|cuda|mps",
        help="device for torch katas (default: $DOJO_DEVICE or auto = mps, then cuda, then "
             "cpu). Asking for a device this machine lacks is an error.")
    group.addoption(
        "--kata", action="append", default=[], metavar="NAME",
        help="run only katas whose slug, topic or tag is NAME (repeatable)")
    group.addoption(
        "--redo-due", action="store_true", default=False,
        help="run only the katas due today (or earlier); each one with no open attempt is "
             "archived to attempts/, reset to its pristine starter, and timed from now")
    group.addoption(
        "--no-record", action="store_true", default=False,
        help="do not touch progress.toml (no attempt is opened, counted or closed)")


def pytest_configure(config):
    config.pluginmanager.register(DojoPlugin(config), "dojo")


def _fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class DojoPlugin:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        try:
            self.root = catalog_mod.find_root(Path(config.rootpath))
            self.catalog = catalog_mod.load_catalog(self.root)
            self.device_choice = devices.requested(config.getoption("device"))
            self.started = clock.now()
            self.today = clock.today()
        except (catalog_mod.CatalogError, devices.DeviceError, clock.ClockError) as err:
            raise pytest.UsageError(str(err)) from None
        self.impl = config.getoption("impl")
        if self.impl not in loading.IMPLS:
            path = Path(config.invocation_params.dir, self.impl)
            if not path.is_file():
                raise pytest.UsageError(
                    f"--impl {self.impl}: not starter, solution or pristine, and no such file")
            self.impl = str(path.resolve())
        self.store = ProgressStore(default_path(self.root))
        self.recording = (
            self.impl == "starter"
            and not config.getoption("no_record")
            and not config.getoption("collectonly", False)
        )
        self.modules: dict[str, object] = {}
        self.nothing_due_message: str | None = None  # set by _selection() under --redo-due
        self.selection = self._selection()
        self.present: dict[str, bool] | None = None  # devices.available(), once needed
        if self.device_choice in ("cuda", "mps"):
            self.present = devices.available()
            try:
                devices.check_present(self.device_choice, self.present)
            except devices.DeviceError as err:
                raise pytest.UsageError(str(err)) from None
        # Collection bookkeeping: per kata, tests collected and tests deselected (-k, -m, --lf).
        self.collected: dict[str, int] = defaultdict(int)
        self.deselected: dict[str, int] = defaultdict(int)
        self.worker_collections: list[dict] = []
        self.outcomes: dict[str, dict[str, set]] = defaultdict(
            lambda: {"passed": set(), "failed": set(), "skipped": set()})
        self.summary: list[str] = []
        self.record_error: str | None = None
        self.hung: dict[str, str] = {}  # kata -> the test that hit the timeout

    # ----------------------------------------------------------------- selection
    def _selection(self) -> set[str] | None:
        """The katas this run may collect (None: all)."""
        if self.is_worker and "dojo_selection" in self.config.workerinput:
            chosen = self.config.workerinput["dojo_selection"]
            return None if chosen is None else set(chosen)
        chosen: set[str] | None = None
        if names := self.config.getoption("kata"):
            try:
                chosen = {k.slug for k in catalog_mod.select(self.catalog, names)}
            except catalog_mod.CatalogError as err:
                raise pytest.UsageError(str(err)) from None
        if self.config.getoption("redo_due"):
            due = self._due_katas()
            if chosen is not None and due and not chosen & due:
                self.nothing_due_message = (
                    f"None of {', '.join(sorted(chosen))} is due today ({self.today}); due "
                    f"now: {', '.join(sorted(due))}.")
            chosen = due if chosen is None else chosen & due
        return chosen

    def _due_katas(self) -> set[str]:
        try:
            doc = self.store.read()
        except ProgressError as err:
            raise pytest.UsageError(str(err)) from None
        katas = doc.get("katas", {})
        due = {slug for slug, table in katas.items()
               if slug in self.catalog and table.get("due") is not None
               and table["due"] <= self.today}
        if not due:
            upcoming = sorted((table["due"], slug) for slug, table in katas.items()
                              if slug in self.catalog and table.get("due") is not None)
            if upcoming:
                when, slug = upcoming[0]
                days = (when - self.today).days
                self.nothing_due_message = (
                    f"Nothing is due today ({self.today}). Next: {slug} on {when} "
                    f"({'tomorrow' if days == 1 else f'in {days} days'}).")
            else:
                self.nothing_due_message = (
                    "Nothing is due: no kata has been passed yet. Start one with "
                    "`nox -s kata -- <slug>` (`dojo list` shows them).")
        return due

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        # xdist workers inherit the controller's selection instead of re-reading the record.
        node.workerinput["dojo_selection"] = (
            None if self.selection is None else sorted(self.selection))

    def _slug(self, path) -> str | None:
        slug = catalog_mod.kata_of_path(self.root, Path(path))
        return slug if slug in self.catalog else None

    def _slug_of_nodeid(self, nodeid: str) -> str | None:
        return self._slug(self.root / nodeid.split("::")[0])

    def pytest_ignore_collect(self, collection_path, config):
        if self.selection is None:
            return None
        slug = catalog_mod.kata_of_path(self.root, collection_path)
        if slug is not None and slug not in self.selection:
            return True
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        for item in items:
            slug = self._slug(item.path)
            if slug is None:
                continue
            kata = self.catalog[slug]
            if self.device_choice != "auto" and self.device_choice not in kata.devices:
                item.add_marker(pytest.mark.skip(
                    reason=f"{slug} runs on {', '.join(kata.devices)}, not "
                           f"{self.device_choice}"))
            elif self.device_of(kata) != "cpu":
                # A signal cannot interrupt a hung CUDA or MPS kernel; a watchdog thread can.
                item.add_marker(pytest.mark.timeout(method="thread"))

    def pytest_deselected(self, items):
        for item in items:
            if slug := self._slug(item.path):
                self.deselected[slug] += 1

    def pytest_collection_finish(self, session):
        for item in session.items:
            if slug := self._slug(item.path):
                self.collected[slug] += 1
        if self.is_worker:
            self.config.workeroutput["dojo_collection"] = {
                "collected": dict(self.collected), "deselected": dict(self.deselected)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        if info := getattr(node, "workeroutput", {}).get("dojo_collection"):
            self.worker_collections.append(info)

    def _narrowed(self) -> set[str]:
        """Katas named by a node id (path::test) on the command line: a subset by design."""
        narrowed = set()
        for arg in self.config.args:
            if "::" in arg:
                path = Path(self.config.invocation_params.dir, arg.split("::")[0])
                if slug := self._slug(path):
                    narrowed.add(slug)
        return narrowed

    # ----------------------------------------------------------------- fixtures
    def kata_for(self, request) -> catalog_mod.Kata:
        slug = self._slug(request.node.path)
        if slug is None:
            pytest.fail(f"{request.node.path} is not inside a katas/<slug>/ folder, so it has "
                        "no kata to test", pytrace=False)
        return self.catalog[slug]

    def module_for(self, kata: catalog_mod.Kata):
        if kata.slug not in self.modules:
            try:
                self.modules[kata.slug] = loading.load(kata, self.impl)
            except loading.KataImportError as err:
                self.modules[kata.slug] = err
        module = self.modules[kata.slug]
        if isinstance(module, Exception):
            pytest.fail(str(module), pytrace=False)
        return module

    # ----------------------------------------------------------------- attempts
    def pytest_sessionstart(self, session):
        # Runs before xdist starts its workers (its hook is trylast), so every worker imports
        # the freshly reset starters.
        if self.is_worker or not self.config.getoption("redo_due") or not self.selection:
            return
        if not self.recording:
            return
        try:
            doc = self.store.read()
            for slug in sorted(self.selection):
                table = doc["katas"].get(slug)
                if not attempts.is_open(table):
                    archived = attempts.reset(self.catalog[slug], self.store, self.started)
                    note = f"; your last attempt is in {archived}" if archived else ""
                    self.summary.append(f"{slug}: reset for a timed redo{note}")
        except (ProgressError, OSError) as err:
            raise pytest.UsageError(f"--redo-due could not reset the due katas: {err}") from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        slug = self._slug(item.path)
        if slug in self.hung:
            # One endless loop would otherwise cost the full timeout once per test.
            pytest.fail(f"not run: {self.hung[slug]} timed out, so the rest of {slug} fails "
                        "fast. Look for a loop that never ends.", pytrace=False)

    def pytest_runtest_logreport(self, report):
        slug = self._slug_of_nodeid(report.nodeid)
        if slug is None:
            return
        outcome = self.outcomes[slug]
        if report.failed and "from pytest-timeout" in report.longreprtext:
            self.hung.setdefault(slug, report.nodeid.split("::", 1)[-1])
        if report.failed:
            outcome["failed"].add(report.nodeid)
        elif report.skipped:
            outcome["skipped"].add(report.nodeid)
        elif report.when == "call":
            outcome["passed"].add(report.nodeid)

    def _runs(self) -> dict[str, dict]:
        """Per kata in this run: counts and whether the whole kata ran."""
        collected, deselected = dict(self.collected), dict(self.deselected)
        if self.worker_collections:  # every worker collects the same items
            collected = self.worker_collections[0]["collected"]
            deselected = self.worker_collections[0]["deselected"]
        narrowed = self._narrowed()
        runs = {}
        for slug in sorted(set(collected) | set(self.outcomes)):
            o = self.outcomes[slug]
            failed = len(o["failed"])
            passed = len(o["passed"] - o["failed"])
            skipped = len(o["skipped"] - o["failed"] - o["passed"])
            total = collected.get(slug, 0)
            whole = (slug not in narrowed and not deselected.get(slug)
                     and total > 0 and passed + failed + skipped == total)
            runs[slug] = {
                "total": total, "failed": failed, "passed": passed, "skipped": skipped,
                "full_pass": whole and failed == 0 and passed > 0,
            }
        return runs

    def pytest_sessionfinish(self, session, exitstatus):
        if self.is_worker:
            return
        if self.nothing_due_message is not None and self.config.getoption("redo_due"):
            session.exitstatus = pytest.ExitCode.OK
            self.summary.append(self.nothing_due_message)
            return
        runs = self._runs()
        if not runs:
            return
        if not self.recording or exitstatus == pytest.ExitCode.INTERRUPTED:
            for slug, run in runs.items():
                self.summary.append(f"{slug}: {self._counts(run)} ({self.impl}; not recorded)")
            return
        try:
            with self.store.transaction() as doc:
                for slug, run in runs.items():
                    self.summary.append(f"{slug}: {self._record(doc, slug, run)}")
        except (ProgressError, OSError) as err:
            self.record_error = str(err)

    @staticmethod
    def _counts(run: dict) -> str:
        done = run["failed"] + run["passed"] + run["skipped"]
        not_run = f" ({run['total'] - done} not run)" if done < run["total"] else ""
        if run["failed"]:
            return f"{run['failed']} of {run['total']} tests failing{not_run}"
        return f"{run['passed']} of {run['total']} tests passed{not_run}"

    def _record(self, doc, slug: str, run: dict) -> str:
        kata = self.catalog[slug]
        table = doc.get("katas", {}).get(slug)
        now = clock.now()
        target = f"target {kata.target_minutes}m"
        if attempts.is_open(table):
            if run["full_pass"]:
                device = self.device_of(kata)
                result = attempts.close_attempt(table, kata, now, self.today, device,
                                                scheduler=scheduling.scheduler_of(doc))
                return (f"passed in {_fmt_duration(result.seconds)} ({target}), grade "
                        f"{result.grade}, next due {result.schedule.due}")
            elapsed = _fmt_duration(attempts.elapsed_seconds(table, now))
            if run["failed"]:
                # The untouched starter fails by design; only the learner's code can miss.
                if not attempts.is_pristine(kata):
                    attempts.record_failed_run(table)
                return f"{self._counts(run)}, {elapsed} elapsed ({target})"
            return (f"{self._counts(run)}, {elapsed} elapsed: only a part of the kata ran; run "
                    "all its tests to close the attempt")
        never_practised = attempts.status(table, self.today) == "new"
        if run["full_pass"]:
            due = f"next due {table['due']}" if table is not None and "due" in table else \
                "not scheduled"
            return (f"passed, but no attempt was open, so nothing was recorded ({due}); "
                    f"`dojo reset {slug}` starts a timed redo")
        if run["failed"] and (never_practised or attempts.is_pristine(kata)):
            attempts.open_attempt(attempts.kata_table(doc, slug), self.started)
            return (f"attempt started, the clock runs from now ({target}); "
                    f"{self._counts(run)}")
        return (f"{self._counts(run)}; no attempt is open, so nothing was recorded "
                f"(`dojo reset {slug}` starts a timed redo)")

    def device_of(self, kata: catalog_mod.Kata) -> str:
        """The device the kata runs on in this session (numpy katas never import torch)."""
        if kata.devices == ("cpu",) or self.device_choice == "cpu":
            return "cpu"
        if self.present is None:
            self.present = devices.available()
        return devices.resolve(self.device_choice, kata.devices, self.present) or "cpu"

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_machine_info(self, config, machine_info):
        # Benchmark reports must say what they ran on.
        import torch

        present = self.present or devices.available()
        gpu = torch.cuda.get_device_name() if present["cuda"] else None
        machine_info["dojo"] = {
            "device": self.device_choice,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "gpu": gpu,
            "mps": present["mps"],
            "threads": torch.get_num_threads(),
        }

    def pytest_terminal_summary(self, terminalreporter):
        if not self.summary and not self.record_error:
            return
        tr = terminalreporter
        tr.write_sep("-", "dojo")
        for line in self.summary:
            tr.write_line(line)
        if self.record_error:
            tr.write_line(f"progress NOT recorded: {self.record_error}", red=True, bold=True)


def _plugin(request) -> DojoPlugin:
    return request.config.pluginmanager.get_plugin("dojo")


@pytest.fixture
def kata(request):
    """The module under test: your starter, the reference solution, or the pristine starter
    (--impl). Tests reach the code only through this fixture."""
    plugin = _plugin(request)
    return plugin.module_for(plugin.kata_for(request))


@pytest.fixture
def device(request):
    """The torch.device this kata runs on (--device; auto picks mps, then cuda, then cpu)."""
    import torch

    plugin = _plugin(request)
    kata_ = plugin.kata_for(request)
    if plugin.device_choice not in ("auto", *kata_.devices):
        pytest.skip(f"{kata_.slug} does not run on {plugin.device_choice}")
    return torch.device(plugin.device_of(kata_))


