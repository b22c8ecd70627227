"""Time the scoring what-if preview on N synthetic decided leads (default 5,000).

The leads are written inside a transaction that is rolled back at the end, so the database is
left as it was; the preview itself only reads.
"""

from __future__ import annotations

import json
import os
import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from pipeline.models import ScoringConfig
from pipeline.scoring import whatif
from pipeline.scoring.bench import BENCH_CRITERIA, make_decided_leads


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time the scoring what-if preview on N synthetic decided leads (rolled back after)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=whatif.MAX_LEADS)
        parser.add_argument("--repeat", type=int, default=3, help="previews timed; best kept")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, leads: int, repeat: int, **options):
        config = ScoringConfig(
            criteria=BENCH_CRITERIA, auto_send_threshold=60, auto_send_labels=["high_intent"]
        )
        timings: list[float] = []
        cpu: list[float] = []
        result = None
        try:
            with transaction.atomic():
                make_decided_leads(leads, tag=f"bench-whatif-{time.time_ns()}-")
                for _ in range(max(1, repeat)):
                    started, started_cpu = time.perf_counter(), time.process_time()
                    result = whatif.preview(config, limit=leads)
                    timings.append(time.perf_counter() - started)
                    # CPU time too: on a shared machine the wall clock includes waiting for a core.
                    cpu.append(time.process_time() - started_cpu)
                raise Rollback
        except Rollback:
            pass
        figures = {
            "database": connection.vendor,
            "leads": result.leads,
            "changed": result.changed,
            "best_seconds": round(min(timings), 3),
            "seconds": [round(t, 3) for t in timings],
            "best_cpu_seconds": round(min(cpu), 3),
            "load_average": round(os.getloadavg()[0], 1),
        }
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(
                f"what-if on {figures['leads']} leads ({figures['database']}): best "
                f"{figures['best_seconds']} s of {len(timings)} "
                f"({', '.join(str(t) for t in figures['seconds'])}), CPU {figures['best_cpu_seconds']} s, "
                f"load average {figures['load_average']}; {result.changed} would move"
            )
