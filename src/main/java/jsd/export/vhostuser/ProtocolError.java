package jsd.export.vhostuser;

/** The front-end broke the vhost-user protocol: its connection is closed. */
final class ProtocolError extends Exception {
    ProtocolError(String message) { super(message); }
}
