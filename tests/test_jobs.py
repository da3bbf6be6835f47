"""The jobs' schedule: a run whose pass stopped full goes again at once."""

import jobs


def test_a_run_whose_pass_stopped_full_goes_again_at_once(app, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_BATCHES_PER_RUN", 3)
    work = list(range(10))

    def step(now):
        if work:
            work.pop()
            return 1
        return 0

    runner = jobs.JobRunner(app, jobs.Job("drain", lambda: jobs.in_batches(step), 10))
    assert runner() == 10
    assert work == []


def test_a_stop_signal_ends_the_run_after_its_pass(app, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_BATCHES_PER_RUN", 3)
    work = list(range(10))

    def step(now):
        work.pop()
        if len(work) == 5:
            jobs.STOPPING.set()
        return 1

    runner = jobs.JobRunner(app, jobs.Job("drain", lambda: jobs.in_batches(step), 10))
    try:
        assert runner() == 5
    finally:
        jobs.STOPPING.clear()
    assert len(work) == 5
