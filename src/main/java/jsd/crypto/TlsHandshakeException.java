package jsd.crypto;

import java.io.IOException;

/** A TLS handshake that did not complete: bad certificate, wrong key, timeout, peer gone. */
public final class TlsHandshakeException extends IOException {
    public TlsHandshakeException(String message, Throwable cause) { super(message, cause); }
}
