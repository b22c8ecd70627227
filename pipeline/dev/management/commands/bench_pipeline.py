"""Measure the whole system end to end: signed webhooks in, decided leads out.

    python manage.py bench_pipeline --leads 200 --llm-latency 2 [--fetch-latency 0.3]
        [--workers 8] [--broker orm|redis] [--sequential] [--scale] [--intake-only] [--json]

Starts the fakes on loopback (Claude Messages API, company websites, HubSpot, SMTP), a worker
cluster and gunicorn (deploy/gunicorn.conf.py) on the configured database, submits N leads of
all four labels through signed webhooks from this process, waits for every run, and prints
intake, pipeline, throughput, cost and integrity figures (pipeline.dev.loadbench says how each
is measured). Exits non-zero when an integrity check fails. Cleans up its leads unless --keep.
"""

from __future__ import annotations

import json
import logging
import shutil
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pipeline.dev import loadbench


class Command(BaseCommand):
    help = (
        "Benchmark the whole system: fakes on loopback, a worker cluster and gunicorn, N signed "
        "webhooks of all four labels; prints intake, pipeline, throughput, cost and integrity."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=40, help="leads to submit (default 40)")
        parser.add_argument(
            "--llm-latency", type=float, default=1.0, help="seconds per fake Claude call"
        )
        parser.add_argument(
            "--fetch-latency", type=float, default=0.2, help="seconds per fake website page"
        )
        parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="steps each worker runs at once, in threads (ENGINE_THREADS; default 1)",
        )
        parser.add_argument(
            "--web-workers", type=int, default=4, help="gunicorn processes (default 4)"
        )
        parser.add_argument("--broker", choices=("orm", "redis"), default="orm")
        parser.add_argument(
            "--concurrency", type=int, default=50, help="webhook requests in flight (default 50)"
        )
        parser.add_argument(
            "--in-flight",
            type=int,
            default=None,
            help="send a webhook only while fewer than this many leads are undecided (default: "
            "all at once, a burst); latency below capacity needs it",
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=None,
            help="send webhooks at this steady rate per second (still at most --concurrency in "
            "flight), latency counted from when each was due; default: as fast as answered",
        )
        parser.add_argument(
            "--ceiling",
            action="store_true",
            help="first send as many GETs to the webhook URL (405, no database work) the same "
            "way: what any request costs on this machine, for comparison",
        )
        parser.add_argument(
            "--sequential",
            action="store_true",
            help="also run the same leads through the steps one after another, and compare",
        )
        parser.add_argument(
            "--scale",
            action="store_true",
            help="repeat with 1, 2, 4, ... up to --workers workers: leads per minute for each",
        )
        parser.add_argument(
            "--intake-only",
            action="store_true",
            help="measure intake alone: no worker cluster; the queued steps are dropped after",
        )
        parser.add_argument(
            "--defer",
            action="store_true",
            help="WEBHOOK_DEFER=1: answer each webhook once stored; a worker finds the person, "
            "gives the owner and starts the run (done here, timed, with --intake-only)",
        )
        parser.add_argument(
            "--stall-seconds",
            type=float,
            default=120.0,
            help="give up when no run is decided for this long (default 120)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--keep", action="store_true", help="keep the leads and the logs")

    def handle(self, *args, **options):
        if (
            min(options["leads"], options["workers"], options["threads"], options["concurrency"])
            < 1
        ):
            raise CommandError("--leads, --workers, --threads and --concurrency must be >= 1")
        if options["rate"] is not None and (options["rate"] <= 0 or options["in_flight"]):
            raise CommandError("--rate must be > 0, and cannot go with --in-flight")
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("unapplied migrations: run `python manage.py migrate` first")
        if not options["intake_only"]:
            self._refuse_earlier_work()
        self.quiet = options["json"]
        quiet_loggers = [logging.getLogger(name) for name in ("pipeline", "django_q")]
        levels = [logger.level for logger in quiet_loggers]
        for logger in quiet_loggers:
            logger.setLevel(logging.WARNING)
        try:
            report = self._bench(options)
        finally:
            for logger, level in zip(quiet_loggers, levels, strict=True):
                logger.setLevel(level)
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print(report)
        if not report["integrity_ok"]:
            raise CommandError("integrity check failed: " + json.dumps(self._integrity(report)))

    @staticmethod
    def _refuse_earlier_work() -> None:
        """The cluster's sweep would run what earlier work left in this database (runs still
        going, submissions never made into a run) beside the benchmark's leads and skew every
        figure: refuse, and say so."""
        from pipeline.intake.receive import unanswered
        from pipeline.models import PipelineRun

        runs = PipelineRun.objects.exclude(status__in=PipelineRun.FINISHED).count()
        waiting = unanswered()["count"]
        if runs or waiting:
            raise CommandError(
                f"this database holds {runs} unfinished run(s) and {waiting} submission(s) "
                "not made into a run yet; the worker cluster would run them beside the "
                "benchmark and skew its figures. Use a fresh database (DATABASE_URL), or "
                "finish or cancel them first."
            )

    # --- Running ------------------------------------------------------------------------------

    def _bench(self, options) -> dict:
        report: dict = {"machine_before": loadbench.machine()}
        rounds = [options["workers"]]
        if options["scale"] and not options["intake_only"]:
            powers = (2**k for k in range(8) if 2**k < options["workers"])
            rounds = sorted({*powers, options["workers"]})
        scaling = []
        for workers in rounds:
            result = self._round(options, workers, last=workers == rounds[-1])
            scaling.append(
                {
                    "workers": workers,
                    "leads_per_minute": result.get("leads_per_minute"),
                    "memory_pss_mib_peak": result.get("memory_pss_mib_peak"),
                }
            )
            if workers == rounds[-1]:
                report |= result
            elif not result["integrity_ok"]:
                report |= result
                break
        report["scaling"] = scaling
        report["machine_after"] = loadbench.machine()
        return report

    def _round(self, options, workers: int, *, last: bool) -> dict:
        settings = loadbench.Options(
            workers=workers,
            threads=options["threads"],
            web_workers=options["web_workers"],
            broker=options["broker"],
            llm_latency=options["llm_latency"],
            fetch_latency=options["fetch_latency"],
            with_cluster=not options["intake_only"],
            extra_env={"WEBHOOK_DEFER": "1" if options["defer"] else "0"},
        )
        deployment = loadbench.Deployment(settings)
        payloads = loadbench.lead_payloads(
            options["leads"], deployment.websites, token=deployment.token
        )
        emails = [payload.email for payload in payloads]
        self._say(
            f"{workers} workers, {options['web_workers']} web processes, {options['broker']} "
            f"broker, {connection.vendor}; logs in {deployment.work_dir}"
        )
        result = None
        try:
            with deployment:
                result = self._measure(deployment, payloads, options, workers, last=last)
                return result
        finally:
            # Even with --keep: the bench's Reviewers would go on getting real leads in turn.
            loadbench.remove_reviewers(deployment.token)
            if not options["keep"]:
                loadbench.cleanup(deployment.token, emails)
                if result and result["integrity_ok"]:  # the logs stay when something failed
                    shutil.rmtree(deployment.work_dir, ignore_errors=True)

    def _measure(self, deployment, payloads, options, workers, *, last) -> dict:
        url = f"{deployment.web.url}/webhooks/{deployment.source.slug}/"
        pace = f", {options['rate']:g} a second" if options["rate"] else ""
        self._say(
            f"Sending {len(payloads)} signed webhooks, {options['concurrency']} at a time{pace}"
        )
        ceiling = (
            self._ceiling(deployment, url, len(payloads), options) if options["ceiling"] else {}
        )
        cpu = loadbench.CpuMeter(deployment.web.process.pid)
        deliveries, seconds = loadbench.send_webhooks(
            url,
            deployment.secret,
            payloads,
            concurrency=options["concurrency"],
            in_flight=options["in_flight"],
            rate=options["rate"],
        )
        report = {
            "leads": len(payloads),
            "workers": workers,
            "threads": options["threads"],
            "web_workers": options["web_workers"],
            "broker": options["broker"],
            "database": connection.vendor,
            "in_flight": options["in_flight"],
            "rate": options["rate"],
            "defer": options["defer"],
            "llm_latency_s": options["llm_latency"],
            "fetch_latency_s": options["fetch_latency"],
            **loadbench.intake_figures(deliveries, seconds),
            # CPU per webhook of the web processes, the sender, PostgreSQL, Redis and the whole
            # machine: what bounds intake on a busy machine.
            **cpu.per_request(len(payloads)),
            **ceiling,
        }
        if any(d.deferred for d in deliveries):
            # WEBHOOK_DEFER: intake stored the deliveries; the rest of its work comes after,
            # done here without a cluster (and timed), by the workers with one.
            self._say("Waiting for the deferred intake work")
            report |= loadbench.settle_deferred(
                deliveries,
                process_here=options["intake_only"],
                stall_seconds=options["stall_seconds"],
            )
        run_ids = [d.run_id for d in deliveries if d.run_id]
        if options["intake_only"]:
            # No workers: only what intake promises (stored, a run started, no 5xx) is checked.
            report |= loadbench.integrity(deployment, deliveries, run_ids)
            report["unfinished"] = None
            report["integrity_ok"] = not report["lost"] and not report["intake_5xx"]
            return report
        self._say(f"Waiting for {len(run_ids)} runs")
        peak = {"pss_mib": 0.0, "rss_mib": 0.0}
        last_sample = [0.0]

        def sample_memory() -> None:
            if time.monotonic() - last_sample[0] < 2:
                return
            last_sample[0] = time.monotonic()
            memory = deployment.memory_mib()
            for key in peak:
                peak[key] = max(peak[key], memory[key])

        loadbench.wait_settled(
            run_ids, stall_seconds=options["stall_seconds"], on_poll=sample_memory
        )
        calls = len(deployment.claude.requests)
        report |= loadbench.pipeline_figures(
            deliveries, llm_latency=options["llm_latency"], fetch_latency=options["fetch_latency"]
        )
        report |= loadbench.cost_figures(run_ids, leads=len(run_ids), claude_calls=calls)
        report["memory_pss_mib_peak"] = peak["pss_mib"]
        report["memory_rss_mib_peak"] = peak["rss_mib"]
        report |= loadbench.integrity(deployment, deliveries, run_ids)
        report["sequential_s_p50"] = report["speedup_over_sequential"] = None
        if options["sequential"] and last:
            self._say(f"Running the same {len(run_ids)} leads with the steps one after another")
            sequential = loadbench.start_sequential_copies(
                deliveries, token=deployment.token, in_flight=options["in_flight"]
            )
            left = loadbench.wait_settled(sequential, stall_seconds=options["stall_seconds"])
            durations = list(loadbench.run_durations(sequential).values())
            report["sequential_s_p50"] = loadbench._round(loadbench.percentile(durations, 50), 2)
            report["unfinished"] += len(left)
            if report["sequential_s_p50"] and report["run_s_p50"]:
                report["speedup_over_sequential"] = round(
                    report["sequential_s_p50"] / report["run_s_p50"], 2
                )
            report["integrity_ok"] = report["integrity_ok"] and not left
        return report

    # --- Output -------------------------------------------------------------------------------

    def _integrity(self, report: dict) -> dict:
        keys = ("lost", "unfinished", "duplicate_emails", "duplicate_contacts", "intake_5xx")
        return {key: report.get(key) for key in keys}

    def _ceiling(self, deployment, url: str, count: int, options) -> dict:
        self._say(
            f"Sending {count} GETs (405, no database work), {options['concurrency']} at a time"
        )
        web_cpu = loadbench.cpu_seconds(deployment.web.process.pid)
        answers, seconds = loadbench.send_gets(url, count, concurrency=options["concurrency"])
        web_cpu = loadbench.cpu_seconds(deployment.web.process.pid) - web_cpu
        figures = loadbench.intake_figures(answers, seconds)
        return {
            "ceiling_rps": figures["intake_rps"],
            "ceiling_ms_p50": figures["intake_ms_p50"],
            "ceiling_ms_p95": figures["intake_ms_p95"],
            "ceiling_web_cpu_ms_per_request": round(web_cpu / count * 1000, 2),
            "ceiling_not_405": sum(1 for answer in answers if answer.status != 405),
        }

    def _print(self, report: dict) -> None:
        def row(label, value):
            self.stdout.write(f"  {label:<38} {value}")

        self.stdout.write(
            f"{report['leads']} leads, {report['workers']} workers x {report['threads']} threads, "
            f"{report['web_workers']} web processes, {report['in_flight'] or 'all'} leads in "
            f"flight, {report['broker']} broker, {report['database']}; Claude "
            f"{report['llm_latency_s']:g} s, websites {report['fetch_latency_s']:g} s per page"
        )
        self.stdout.write("intake")
        row("requests/s", report["intake_rps"])
        row(
            "latency p50 / p95 / p99 (ms)",
            f"{report['intake_ms_p50']} / {report['intake_ms_p95']} / {report['intake_ms_p99']}",
        )
        row(
            "in the view (Server-Timing) p50 / p95 / p99 (ms)",
            f"{report['intake_app_ms_p50']} / {report['intake_app_ms_p95']} / "
            f"{report['intake_app_ms_p99']}",
        )
        row("5xx / other non-202", f"{report['intake_5xx']} / {report['intake_other_errors']}")
        row(
            "CPU per request (ms)",
            " / ".join(
                f"{name} {report[f'intake_{key}_cpu_ms_per_request']}"
                for key, name in (
                    ("web", "web"),
                    ("sender", "sender"),
                    ("postgres", "PostgreSQL"),
                    ("redis", "Redis"),
                    ("machine", "machine"),
                )
            )
            + f" ({report['intake_machine_busy']:.0%} of the cores busy)",
        )
        if "ceiling_rps" in report:
            row(
                "a GET (405, no database): requests/s",
                f"{report['ceiling_rps']}, p50 / p95 {report['ceiling_ms_p50']} / "
                f"{report['ceiling_ms_p95']} ms, web CPU {report['ceiling_web_cpu_ms_per_request']} ms",
            )
        if report.get("deferred"):
            row(
                "deferred: persons found, runs started",
                f"{report['deferred'] - report['deferred_unprocessed']} of {report['deferred']} "
                f"in {report['deferred_seconds']} s after the last webhook "
                f"({report['deferred_per_s']}/s)",
            )
        if "decision_s_p50" in report:
            self.stdout.write("pipeline")
            row(
                "webhook to decision p50 / p95 (s)",
                f"{report['decision_s_p50']} / {report['decision_s_p95']}",
            )
            row("critical path from the fakes, p50 (s)", report["critical_path_s"])
            row("ratio p50 (decision / critical path)", report["ratio_p50"])
            row(
                "run p50: parallel / sequential (s)",
                f"{report['run_s_p50']} / {report['sequential_s_p50']} "
                f"(speed-up {report['speedup_over_sequential']})",
            )
            row("decisions", report["decisions"])
            self.stdout.write("throughput")
            for entry in report["scaling"]:
                row(
                    f"{entry['workers']} workers: leads/minute",
                    f"{entry['leads_per_minute']} (deployment PSS peak "
                    f"{entry['memory_pss_mib_peak']} MiB)",
                )
            self.stdout.write("cost")
            row(
                "Claude calls / steps with a cache hit",
                f"{report['claude_calls']} / {report['cache_hits']} of {report['claude_steps']}",
            )
            row(
                "tokens in / out / cache read",
                f"{report['tokens_input']} / {report['tokens_output']} / "
                f"{report['tokens_cache_read']}",
            )
            row("cost per lead (USD)", report["cost_usd_per_lead"])
        self.stdout.write("integrity")
        row("leads sent / stored", f"{report['leads_sent']} / {report['leads_stored']}")
        for key in ("lost", "unfinished", "duplicate_emails", "duplicate_contacts", "emails_sent"):
            if key in report:
                row(key.replace("_", " "), report[key])
        row("integrity", "OK" if report["integrity_ok"] else "FAILED")
        before, after = report["machine_before"], report["machine_after"]
        row(
            "machine",
            f"{before['cpus']} CPUs, load average {before['load_average_1m']} before, "
            f"{after['load_average_1m']} after",
        )

    def _say(self, message: str) -> None:
        if not self.quiet:
            self.stderr.write(message)
