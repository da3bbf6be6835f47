"""The soak's table and its results file."""

import json

from bench.support import RESULTS_DIR, print_table


def ms(value):
    return "—" if value is None else f"{value:.0f}"


def seconds(value):
    return "—" if value is None else f"{value:.1f}"


def print_report(results):
    requests, pushes = results["requests"], results["pushes"]
    print(f"\nsoak {results['run']}: {results['duration_s']:.0f} s, steady phase {results['steady_s']:.0f} s, "
          f"{results['machine']['cpus']} CPUs, load per core at the end {results['machine']['load_per_core_at_end']}")
    print(f"  sign-in: {results['tokens']}\n")
    rows = [[route, f"{r['count']:,}", r["errors"], ms(r["p50"]), ms(r["p95"]), ms(r["p99"]), ms(r["max"])]
            for route, r in results["requests"]["routes"].items()]
    print_table(rows, ["route", "answered", "5xx/conn", "p50 ms", "p95 ms", "p99 ms", "max ms"])
    print()
    lag, to_prompt = results["due_to_push_s"], results["write_to_prompt_s"]
    answers = ", ".join(f"{k} {v:,}" for k, v in pushes["answers"].items())
    accepted = ", ".join(f"{k} {v:,}" for k, v in pushes["accepted_by_kind"].items())
    statuses = ", ".join(f"{k} {v:,}" for k, v in requests["by_status"].items())
    pairs([
        ["requests (every attempt)", f"{requests['total']:,}"],
        ["throughput in the steady phase", f"{requests['per_s']:.1f} answered/s"],
        ["answers", statuses],
        ["writes acknowledged", f"{results['writes']['creates']:,} creates ({results['writes']['by_sync']:,} by sync), "
                                f"{results['writes']['corrections']:,} corrections"],
        ["sync 409s (pulled and pushed again) / 412s resolved by a read",
         f"{requests['sync_conflicts']} / {requests['resolved_412']}"],
        ["reminders owed (occurrence × schedule)", f"{pushes['reminders_owed']:,} for {pushes['quiet_people']:,} quiet "
                                                  "people and the phones"],
        ["FCM requests", f"{pushes['fcm_requests']:,}: {answers}"],
        ["pushes accepted", accepted],
        ["due → first send to FCM, s (p50 / p99 / max)", spread(lag["first_sent"])],
        ["due → push accepted by FCM, s (p50 / p99 / max)", spread(lag["accepted"])],
        ["write acknowledged → prompt stored, s (p50 / p99 / max)", spread(to_prompt)],
        ["prompts", ", ".join(f"{k} {v:,}" for k, v in results["prompts"].items())],
        ["duplicate pushes (extra copies) by window", ", ".join(f"{k} {v}" for k, v in results["duplicates"].items())],
        ["errors by kind", ", ".join(f"{k} {v}" for k, v in results["errors"].items())],
        ["backlog at the end", ", ".join(f"{k} {v}" for k, v in results["backlog_at_end"].items())],
    ])
    print()
    print_table([[m["minute"], f"{m['requests']:,}", ms(m["p50"]), ms(m["p99"]), m["503"], m["connection_errors"],
                  f"{m['pushes_accepted']:,}", m["pushes_refused"], m["load_per_core"] or "—"]
                 for m in results["minutes"]],
                ["minute", "answered", "p50 ms", "p99 ms", "503", "conn err", "pushes", "refused", "load/core"])
    print()
    for fault in results["faults"]:
        print(f"  fault: {fault['what']}")
    print()
    if results["memory"]:
        print_table([[label, f"{m['start_mib']:.0f}", f"{m['end_mib']:.0f}", f"{m['ratio']:.2f}"]
                     for label, m in results["memory"].items()], ["RSS after warm-up → end", "MiB", "MiB", "ratio"])
        print()
    if results["warnings"]:
        print("  warnings logged (count):")
        for line, count in results["warnings"].items():
            print(f"    {count:>5}  {line}")
        print()
    for check in results["checks"]:
        print(f"  {'PASS' if check['ok'] else 'FAIL'}  {check['name']}: {check['summary']}")
    for check in results["checks"]:
        if not check["ok"]:
            print(f"\n  {check['name']}:")
            for detail in check["details"][:12]:
                print(f"    {detail}")


def spread(p):
    return f"{seconds(p['p50'])} / {seconds(p['p99'])} / {seconds(p.get('max'))} over {p['count']:,}"


def pairs(rows):
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def save(results):
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "soak.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path
