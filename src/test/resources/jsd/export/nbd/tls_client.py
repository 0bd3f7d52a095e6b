"""NBD-over-TLS client steps for NbdTlsTest that the packaged clients cannot take.

  plain PORT            options in plaintext against a server that requires TLS
  restart PORT DIR VER  STARTTLS, TLS (VER 1.2 or 1.3) with DIR's client certificate,
                        STARTTLS again, then LIST
  hold PORT DIR         libnbd (python3-libnbd: run by /usr/bin/python3) over TLS: connect, print "ready", wait for a line on
                        stdin, read 4k, print the outcome
"""
import socket, ssl, struct, sys

IHAVEOPT = 0x49484156454F5054


def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    recvn(s, 18)
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    return s


def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)
    _, o, t, n = struct.unpack(">QIII", recvn(s, 20))
    return "%d 0x%x %s" % (o, t, recvn(s, n).decode(errors="replace"))


def plain(port):
    s = connect(port)
    print("list:", option(s, 3))
    print("go:", option(s, 7, struct.pack(">I", 4) + b"disk" + b"\0\0"))
    s.sendall(struct.pack(">QII", IHAVEOPT, 1, 4) + b"disk")  # EXPORT_NAME cannot be refused: the server closes
    try:
        print("export-name:", "data" if s.recv(1) else "closed")
    except OSError as e:
        print("export-name: closed", e)


def restart(port, d, ver):
    s = connect(port)
    print("starttls:", option(s, 5))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(d + "/ca-cert.pem")
    ctx.load_cert_chain(d + "/client-cert.pem", d + "/client-key.pem")
    v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    t = ctx.wrap_socket(s, server_hostname="localhost")
    print("version:", t.version())
    print("again:", option(t, 5))
    print("list:", option(t, 3))


def hold(port, d):
    import nbd
    h = nbd.NBD()
    h.set_tls(nbd.TLS_REQUIRE)
    h.set_tls_certificates(d)
    h.set_export_name("disk")
    h.connect_tcp("127.0.0.1", str(port))
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        h.pread(4096, 0)
        print("read ok", flush=True)
    except nbd.Error as e:
        print("read failed:", e, flush=True)


cmd = sys.argv[1]
if cmd == "plain":
    plain(int(sys.argv[2]))
elif cmd == "restart":
    restart(int(sys.argv[2]), sys.argv[3], sys.argv[4])
elif cmd == "hold":
    hold(int(sys.argv[2]), sys.argv[3])
