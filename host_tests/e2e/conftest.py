"""Fixtures of the end-to-end tests: the real node (compiled firmware under the MicroPython
unix port, run in place from its ROMFS image, started through tools/sim.py with make sim's
heap unless a test asks for another) on its own loopback address,
driven by third-party controllers bound to a second loopback address.

Every test gets an address pair of its own (see harness.AddressPool), so the suite runs
in parallel under pytest-xdist. All traffic stays on loopback; the multicast tests run in
network namespaces they create (harness.NetnsPair).
"""
import os
import shutil
from typing import NamedTuple

import pytest

from .harness import FIRMWARE_MAIN, HEAP, AddressPool, NetnsPair, Proc, remove_stale_netns, start_node, state_dir, stop_node


@pytest.fixture(scope="session", autouse=True)
def firmware_built():
    if not os.path.exists(FIRMWARE_MAIN):
        pytest.fail("%s is missing: run `make build` first (`make test` builds before testing)" % FIRMWARE_MAIN, pytrace=False)


@pytest.fixture(scope="session")
def address_pool():
    return AddressPool()


class RunningNode(NamedTuple):
    addr: str  # the node's address (ADDR)
    ctrl: str  # the controller's address, in --legacy-write unless the test asked otherwise
    proc: Proc
    lines: list  # the node's output so far (grows while it runs)

    @property
    def state(self):
        return self.proc.argv[self.proc.argv.index("--state") + 1]


@pytest.fixture
def state_dirs():
    """new() -> a fresh state directory (see harness.state_dir), removed at teardown."""
    made = []

    def new():
        made.append(state_dir())
        return made[-1]

    yield new
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def node_factory(address_pool, state_dirs):
    """start(legacy_write=None, state=None, pair=None, extra=(), heap=HEAP, objects=None) ->
    RunningNode. legacy_write None allows the controller address; objects None: all five;
    extra: more tools/sim.py arguments.
    Every node started is stopped at teardown, and each must print STOPPED and exit 0 on
    SIGTERM."""
    started = []

    def start(legacy_write=None, state=None, pair=None, extra=(), heap=HEAP, objects=None):
        addr, ctrl = pair or address_pool.pair()
        if legacy_write is None:
            legacy_write = (ctrl,)
        if state is None:
            state = state_dirs()
        proc = start_node(addr, state, legacy_write, heap=heap, objects=objects, extra=extra)
        started.append(proc)
        return RunningNode(addr, ctrl, proc, proc.lines)

    start.stop = lambda n: (started.remove(n.proc), stop_node(n.proc))
    yield start
    errors = []
    for proc in started:
        try:
            stop_node(proc)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def node(node_factory):
    """A node whose --legacy-write allows the controller address: RunningNode
    (node_addr, ctrl_addr, process, output lines), stopped (and checked) at teardown."""
    return node_factory()


@pytest.fixture
def netns_pair():
    """Two fresh namespaces joined by a veth pair; always removed afterwards."""
    remove_stale_netns()
    pair = NetnsPair()
    try:
        yield pair.create()
    finally:
        pair.remove()
