"""The suite's own ordering (tests/conftest.py): every module it moves to the front exists, so that
a renamed module is not silently left to run last."""

import pathlib

import pytest

from tests.conftest import SLOWEST_MODULES_FIRST, pytest_collection_modifyitems

TESTS = pathlib.Path(__file__).resolve().parent


def test_every_module_run_first_exists_and_is_named_once():
    assert len(set(SLOWEST_MODULES_FIRST)) == len(SLOWEST_MODULES_FIRST)
    missing = [name for name in SLOWEST_MODULES_FIRST if not (TESTS / name).is_file()]
    assert not missing, f"tests/conftest.py SLOWEST_MODULES_FIRST names no such module: {missing}"


def test_the_slow_modules_move_to_the_front_in_their_order_and_the_rest_keep_theirs():
    class Item:
        def __init__(self, path, name):
            self.location, self.name = (path, 0, name), name

    slow, slower = SLOWEST_MODULES_FIRST[1], SLOWEST_MODULES_FIRST[0]
    items = [Item("tests/test_a.py", "a1"), Item(f"tests/{slow}", "s1"), Item("tests/test_a.py", "a2"),
             Item("tests/test_b.py", "b1"), Item(f"tests/{slower}", "t1"), Item(f"tests/{slow}", "s2")]
    pytest_collection_modifyitems(items)
    assert [item.name for item in items] == ["t1", "s1", "s2", "a1", "a2", "b1"]


@pytest.mark.xdist_group("suite_order_probe")
def test_xdist_groups_reach_the_scheduler(request):
    # `--dist loadgroup` keeps a group's tests on one worker only if pytest-xdist can append the
    # group to the test's node id ("...@group"); with pytest 9.2 and pytest-xdist 3.8 it could not
    # (xdist writes `_nodeid`, pytest 9 reads `_id`), so each of the suite's groups was split over
    # both workers and their session fixtures (the JAX children, the shared TFLite conversions)
    # were built twice. requirements-dev.txt pins pytest 8.4 for that; this fails if it comes back.
    if not getattr(request.config.option, "loadgroup", False):  # set on pytest-xdist's workers
        pytest.skip("not run under pytest-xdist's --dist loadgroup (`make test` runs it so)")
    assert request.node.nodeid.endswith("@suite_order_probe"), request.node.nodeid
