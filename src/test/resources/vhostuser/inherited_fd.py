#!/usr/bin/env python3
"""inherited_fd.py SOCKET_PATH DAEMON_COMMAND...

Binds a listening unix socket, starts the daemon with it as descriptor 3
(for --export vhost-user-blk,...,addr.type=fd,addr.str=3), asks the
export for its features over it, stops the daemon with SIGTERM and says
whether the socket file was removed. Exit status 0 when all went well.
"""
import os
import socket
import struct
import subprocess
import sys
import time

path, cmd = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(4)
extra = s.fileno() != 3
if extra:
    os.dup2(s.fileno(), 3, inheritable=True)
else:
    os.set_inheritable(3, True)
p = subprocess.Popen(cmd, pass_fds=[3])
if extra:
    os.close(3)
s.close()
try:
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(30)
    c.connect(path)  # queued in the backlog until the daemon accepts
    c.sendall(struct.pack("<III", 1, 1, 0))
    hdr = c.recv(12, socket.MSG_WAITALL)
    payload = c.recv(8, socket.MSG_WAITALL)
except BaseException:
    p.kill()
    raise
req, flags, size = struct.unpack("<III", hdr)
features = struct.unpack("<Q", payload)[0]
print("reply request %d flags %#x size %d features %#x" % (req, flags, size, features))
c.close()
time.sleep(0.3)
p.terminate()
rc = p.wait(30)
print("daemon exit", rc)
print("socket file removed", not os.path.exists(path))
ok = req == 1 and flags == 5 and size == 8 and features & (1 << 32) and rc == 0 and not os.path.exists(path)
sys.exit(0 if ok else 1)
