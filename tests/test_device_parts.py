"""benchmarks/device_check.py's pieces, in-process: a part gets at most its share of the budget and never past the
run's end, is stopped there (a part that outlives it is the negative control), and is skipped once no time is left;
the step tests' outcome is read from pytest's log whether they finished or were stopped."""

import sys
import time

import runs

device_check = runs.benchmark("device_check")


def test_a_part_gets_its_share_and_never_past_the_end():
    now = time.monotonic()
    assert device_check.part_deadline("jax", 100.0, now + 1000) - now < 41  # 40% of 100 s
    assert device_check.part_deadline("jax", 100.0, now + 10) <= now + 10  # the run's end comes first
    assert (
        device_check.part_deadline("torch.compile", 100.0, now + 1000) == now + 1000
    )  # the last: what is left
    assert set(device_check.SHARES) == {"tests", "jax", "torch", "torch.compile"}


def test_a_part_is_stopped_at_its_deadline_and_skipped_without_time(tmp_path):
    log = str(tmp_path / "log.txt")
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    began = time.monotonic()
    stopped = device_check.run_part(sleeper, time.monotonic() + 2, log)
    assert stopped["ended"] == "stopped at the end of its time in --budget" and time.monotonic() - began < 15
    quick = device_check.run_part([sys.executable, "-c", "print('done')"], time.monotonic() + 60, log)
    assert quick["ended"] == "finished" and "done" in open(log).read()
    failing = device_check.run_part([sys.executable, "-c", "raise SystemExit(3)"], time.monotonic() + 60, log)
    assert failing["ended"] == "failed (exit 3)"
    assert device_check.run_part(sleeper, time.monotonic() + 0.5, log) == {
        "ended": "skipped: no time left in --budget"
    }


def test_the_step_tests_are_counted_finished_or_stopped():
    passed = "tests/test_a.py::test_one PASSED [ 50%]\n"
    failed = "tests/test_a.py::test_two FAILED [100%]\n"
    final = "=================== 1 failed, 1 passed, 1 deselected in 3.21s ===================\n"
    assert device_check.tests_summary([passed, failed, final]) == {
        "summary": "1 failed, 1 passed, 1 deselected in 3.21s",
        "failed": ["tests/test_a.py::test_two"],
    }
    assert device_check.tests_summary([passed, passed]) == {"summary": "stopped after 2 passed", "failed": []}
