"""Transport facts of ECHONET Lite (Spec Part II §3.1). Service codes live in node.py,
their only user, as compile-time constants."""
PORT = 3610
MCAST_GROUP = "224.0.23.0"
