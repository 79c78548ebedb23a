"""Protocol constants of ECHONET Lite (Spec Part II ch.3-4)."""
from micropython import const

EHD1 = const(0x10)
EHD2_FORMAT1 = const(0x81)
EHD2_FORMAT2 = const(0x82)
PORT = const(3610)
MCAST_GROUP = "224.0.23.0"

# Request services
SETI = const(0x60)
SETC = const(0x61)
GET = const(0x62)
INF_REQ = const(0x63)
SETGET = const(0x6E)
INFC = const(0x74)
# Responses and notifications
SET_RES = const(0x71)
GET_RES = const(0x72)
INF = const(0x73)
INFC_RES = const(0x7A)
SETGET_RES = const(0x7E)
SETI_SNA = const(0x50)
SETC_SNA = const(0x51)
GET_SNA = const(0x52)
INF_SNA = const(0x53)
SETGET_SNA = const(0x5E)

NODE_PROFILE = const(0x0EF001)
CONTROLLER = const(0x05FF01)

# A reply never grows beyond this; EPCs that would overflow are answered PDC=0 (SNA).
# Some clients read at most 1024 bytes per datagram (uecho-go MaxPacketSize).
MAX_FRAME = const(1024)
