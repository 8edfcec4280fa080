"""A TCP proxy on loopback that drops one connection part-way, for the network tests.

    cutting_proxy.py LISTEN_PORT TARGET_PORT BYTES {to_target|from_target}

Forwards every connection to TARGET_PORT. The first connection to carry BYTES bytes in the given
direction is closed on both sides right there (mid-object, for a large enough object); every other
connection, before or after it, is forwarded whole.
"""
import socket
import sys
import threading

listen_port, target_port, cut_after, direction = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cut_done = threading.Event()


def pump(source, sink, counted, ends):
    moved = 0
    try:
        while data := source.recv(65536):
            if counted and not cut_done.is_set() and moved + len(data) >= cut_after:
                sink.sendall(data[:cut_after - moved])
                cut_done.set()
                break
            sink.sendall(data)
            moved += len(data)
    except OSError:
        pass
    for end in ends:
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        end.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(8)
while True:
    client, _ = server.accept()
    target = socket.create_connection(("127.0.0.1", target_port))
    ends = (client, target)
    threading.Thread(target=pump, args=(client, target, direction == "to_target", ends), daemon=True).start()
    threading.Thread(target=pump, args=(target, client, direction == "from_target", ends), daemon=True).start()
