"""firmware/startup.py load_identity: the production date tools/provision.py writes into
identity.json becomes node profile 0x8E; a date that is not exactly YYYY-MM-DD of a day
that exists stops the boot with the identity.json message, as tools/provision.py refuses it."""
import json

import pytest
import startup

from app import ConfigError


def load(tmp_path, rec):
    (tmp_path / "identity.json").write_text(json.dumps(rec))
    return startup.load_identity(str(tmp_path), {})


def test_the_production_date_is_read(tmp_path):
    assert load(tmp_path, {"unique": "00" * 10, "date": "2026-11-27"}).date == b"\x07\xea\x0b\x1b"
    assert load(tmp_path, {"unique": "00" * 10}).date is None  # an identity the node made itself


@pytest.mark.parametrize("date", ["2026-13-01", "2026-02-31", "2026-02-29", "26-11-27", "2026-11-27T00:00", "2026-W48-5",
                                  "2026/11/27", "0000-01-01", "2026-1-027", "+026-11-27", 20261127])
def test_a_damaged_production_date_stops_the_boot(tmp_path, date):
    with pytest.raises(ConfigError, match="identity.json is damaged"):
        load(tmp_path, {"unique": "00" * 10, "date": date})
