#!/usr/bin/env python3
"""Tiny QMP client for guest scripts: qmp.py SOCKET COMMAND_JSON... [--event NAME]

Runs each command in order and prints each reply as one line of JSON;
--event NAME then waits (10 s) for that event and prints it. Exit status 1
when a reply is missing or the event does not come.
"""
import json
import socket
import sys
import time

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
events = []


def receive():
    line = f.readline()
    if not line:
        sys.exit("qmp: connection closed")
    return json.loads(line)


def execute(cmd):
    f.write(json.dumps(cmd) + "\n")
    f.flush()
    while True:
        m = receive()
        if "event" in m:
            events.append(m)
            continue
        return m


receive()  # greeting
execute({"execute": "qmp_capabilities"})
args = sys.argv[2:]
i = 0
while i < len(args):
    if args[i] == "--event":
        name = args[i + 1]
        i += 2
        sock.settimeout(10)
        deadline = time.time() + 10
        while not any(e["event"] == name for e in events):
            if time.time() > deadline:
                sys.exit("qmp: no event " + name)
            events.append(receive())
        print(json.dumps([e for e in events if e["event"] == name][0]))
        continue
    print(json.dumps(execute(json.loads(args[i]))))
    i += 1
