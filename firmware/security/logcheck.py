"""Check an exported security event log (security/eventlog.py): the host tool's side.

    first, last, head = verify(lines)     # ValueError saying where the chain breaks

Not loaded by the node; kept beside the log so there is one chain rule.
"""
from security.eventlog import ZERO, chain_hash, parse


def verify(lines, anchor=None):
    """Check exported record lines; (first_seq, last_seq, last_hash) or ValueError saying where
    the chain breaks. anchor: the hash before the first line, when known (seq 1: zeros)."""
    prev = anchor
    first = last = None
    for line in lines:
        rec = parse(line)
        if rec is None:
            raise ValueError("record after seq %s is not a record line" % last)
        seq, body, digest = rec
        if last is not None and seq != last + 1:
            raise ValueError("records missing between seq %d and %d" % (last, seq))
        if prev is None and seq == 1:
            prev = ZERO
        if prev is not None and chain_hash(prev, body.encode()) != digest:
            raise ValueError("record seq %d does not chain to the one before: the log was altered" % seq)
        prev, last = digest, seq
        if first is None:
            first = seq
    if first is None or last is None or prev is None:
        raise ValueError("the log is empty")
    return first, last, prev
