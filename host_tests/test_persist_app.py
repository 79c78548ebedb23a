"""The settings glue in app.py and startup.py on CPython: replay at boot, the write at a
clean stop (Ctrl-C / SIGTERM reach app.main as KeyboardInterrupt), the config keys."""
import json

import pytest
import startup

import app
from echonet import persist
from hal.clock import Clock
from portable.support import ID, make_node, request

T0 = 1767225600


class _Endpoint:
    addr = "127.0.0.9"

    def close(self):
        pass


def _run_main(tmp_path, monkeypatch, cfg, during):
    """app.main with the node of portable.support; `during(node)` runs while it serves,
    then the operator presses Ctrl-C."""
    node, net = make_node(now=T0)
    cfg = dict(cfg, state_dir=str(tmp_path))
    monkeypatch.setattr(app, "_boot", lambda path: (cfg, node, _Endpoint(), Clock(1, T0), None))

    def serve(node, ep, clock, saver=None, sec=None, cfg=None):
        during(node, net)
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "serve", serve)
    return app.main("unused"), node


def test_a_clean_stop_writes_the_settings_not_yet_written(tmp_path, monkeypatch, capsys):
    def during(node, net):
        request(node, net, "1081 0001 05FF01 027D01 61 02 EB 04 000007D0 DA 01 42", now=T0)

    # a long interval: only the stop can have written the file
    rc, node = _run_main(tmp_path, monkeypatch, {"persist_interval_s": 3600}, during)
    assert rc == 0 and capsys.readouterr().out.endswith("STOPPED\n")
    with open(tmp_path / "settings.json") as f:
        assert json.load(f) == {"027D01": ["EB=000007D0", "DA=42"]}
    assert not (tmp_path / "settings.json.tmp").exists()

    # the next boot replays them
    rc, node = _run_main(tmp_path, monkeypatch, {}, lambda node, net: None)
    b = node.devices[0]
    assert b.get(0xDA) == b"\x42" and b.get(0xEB) == b"\x00\x00\x07\xd0" and b.settings.charge_w == 2000


def test_a_stop_with_nothing_changed_writes_nothing(tmp_path, monkeypatch):
    rc, _ = _run_main(tmp_path, monkeypatch, {}, lambda node, net: None)
    assert rc == 0 and not (tmp_path / "settings.json").exists()


def test_values_that_no_longer_validate_are_logged_and_the_boot_goes_on(tmp_path, capsys):
    (tmp_path / "settings.json").write_text(json.dumps({"027D01": ["DA=50", "EB=000007D0"], "026B01": ["C7=01"]}))
    (tmp_path / "settings.json.tmp").write_text('{"027D01": ["DA=4')  # left by a cut: ignored
    node, _ = make_node(now=T0)
    saver = app.settings({"state_dir": str(tmp_path)}, node, Clock(1, T0))
    out = capsys.readouterr().out.splitlines()
    assert out == ["settings not restored 027D01 DA=50: invalid value", "settings not restored 026B01: no such object now; kept"]
    assert persist.snapshot(node) == {"027D01": ["EB=000007D0"]} and node.devices[0].get(0xDA) == b"\x46"  # as out of the box
    # the object the node does not have keeps its entries in the file (a driver not started
    # yet, or a config that left it out for now): nothing lost
    assert saver.record() == {"027D01": ["EB=000007D0"], "026B01": ["C7=01"]}
    assert saver.interval == 60000  # app._PERSIST_INTERVAL_S: a minute unless the config says otherwise


def test_config_keys_for_timeout_and_interval():
    for key in ("dr_timeout_s", "persist_interval_s", "update_pull_timeout_s"):
        for bad in (-1, "60", 1.5, None):
            with pytest.raises(app.ConfigError) as e:
                startup.check_config({key: bad})
            assert key in str(e.value) and "whole number of seconds" in str(e.value)
        startup.check_config({key: 0})
    node = startup.build({}, ID, lambda d, f: None, T0)
    assert node.dr_timeout == startup._DR_TIMEOUT_S == 3600
    node = startup.build({"dr_timeout_s": 0}, ID, lambda d, f: None, T0)
    assert node.dr_timeout == 0


def test_the_update_url_and_its_name_server_are_checked_at_boot():
    url = "https://updates.example.com/drready/app.pkg"
    for good in ("192.168.1.1", "127.0.0.1:5353"):
        startup.check_config({"update_url": url, "dns_server": good})
    startup.check_config({"update_url": url, "dns_server": None})  # (null: the network's)
    for bad in ("ns.example.com", "192.168.1.1:0", "192.168.1", 53, "", "192.168.001.010", "192.168.1.1:"):
        with pytest.raises(app.ConfigError, match="dns_server .* is not an IPv4 address"):
            startup.check_config({"update_url": url, "dns_server": bad})
    for bad in ("http://updates.example.com/app.pkg", "https://updates.example.com:x/app.pkg", 7,
                "https://updates.example.com:0/a", "https://updates.example.com:70000/a", "https://bad_host.example/a",
                "https://user@updates.example.com/a", "https://192.168.001.010/a", "https://a..b/a"):
        with pytest.raises(app.ConfigError, match="update_url"):
            startup.check_config({"update_url": bad})


def test_a_tick_that_finds_no_heap_is_skipped_and_the_loop_goes_on(monkeypatch, capsys):
    import asyncio

    node, _net = make_node(now=T0)
    calls = []

    def tick(now):
        calls.append(now)
        if len(calls) == 2:
            raise MemoryError
        if len(calls) == 4:
            raise KeyboardInterrupt  # the test's way out of the endless loop

    async def sleep_ms(ms):
        pass

    monkeypatch.setattr(node, "tick", tick)
    monkeypatch.setattr(app.asyncio, "sleep_ms", sleep_ms, raising=False)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(app._tick(node, Clock(1, T0), None, None))
    assert len(calls) == 4 and node.stats.errors == 1
    assert "tick skipped: out of heap" in capsys.readouterr().out
