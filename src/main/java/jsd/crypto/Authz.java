package jsd.crypto;

/**
 * An authorization object (authz-simple, authz-list, authz-listfile): decides
 * whether an authenticated identity (an x509 distinguished name, a PSK
 * username) may use a service. Called from connection threads, so
 * implementations are thread-safe.
 */
public interface Authz {
    boolean isAllowed(String identity);
}
