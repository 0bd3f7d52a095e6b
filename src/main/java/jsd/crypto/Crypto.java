package jsd.crypto;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.daemon.Daemon;
import jsd.daemon.UserObjects;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * Plugs the crypto objects into the daemon (secret, tls-creds-x509,
 * tls-creds-psk, authz-simple, authz-list, authz-listfile) and holds the
 * checks a TLS server makes on each connection.
 */
public final class Crypto {
    private Crypto() {}

    public static void install(Daemon daemon) {
        installFactories(daemon.objects());
    }

    /** The object types alone (tests use a UserObjects without a daemon). */
    public static void installFactories(UserObjects objects) {
        objects.registerFactory(Secret.TYPE, o -> Secret.create(o, objects));
        objects.registerFactory(TlsCredsX509.TYPE, o -> TlsCredsX509.create(o, objects));
        objects.registerFactory(TlsCredsPsk.TYPE, TlsCredsPsk::create);
        objects.registerFactory(AuthzSimple.TYPE, o -> new AuthzSimple(o.get("identity").asText()));
        objects.registerFactory(AuthzList.TYPE, o -> new AuthzList(AuthzList.Policy.of(o)));
        objects.registerFactory(AuthzListFile.TYPE, Crypto::listFile);
    }

    private static AuthzListFile listFile(ObjectNode o) {
        boolean refresh = !o.hasNonNull("refresh") || o.get("refresh").asBoolean();
        return new AuthzListFile(o.get("filename").asText(), refresh);
    }

    /**
     * The server-side credentials named by a server's tls-creds option, with
     * QEMU's errors when there are none or they are for a client.
     */
    public static TlsCreds serverCreds(UserObjects objects, String id) {
        UserObjects.Entry e = objects.find(id);
        if (e == null) throw QapiError.generic("No TLS credentials with id '%s'", id);
        if (!(e.instance() instanceof TlsCreds c)) throw QapiError.generic("Object with id '%s' is not TLS credentials", id);
        if (!c.isServer()) throw QapiError.generic("Expected TLS credentials for a server endpoint");
        return c;
    }

    /**
     * Whether the peer of a finished handshake may go on, by the authz object
     * named authzId, looked up now so it can be replaced while the server
     * runs. A missing object denies. Returns null when allowed, else the
     * reason to log.
     */
    public static String denial(UserObjects objects, String authzId, TlsSession session, boolean x509) {
        if (authzId == null) return null;
        String who = session.peerIdentity();
        String kind = x509 ? "x509" : "PSK";
        if (who == null) return "TLS " + kind + " authz check: the client presented no identity";
        UserObjects.Entry e = objects.find(authzId);
        if (e == null) return "Cannot find QAuthZ object ID " + authzId;
        if (!(e.instance() instanceof Authz a)) return "Object '" + authzId + "' is not a QAuthZ subclass";
        return a.isAllowed(who) ? null : "TLS " + kind + " authz check for " + who + " is denied";
    }

    /**
     * A server's whole TLS step for one client after its STARTTLS reply:
     * handshake (bounded by timeout), then the tls-authz check. On any
     * failure the channel is closed and the exception's message is the line
     * to log (e.g. "TLS x509 authz check for C=GB,...,CN=x is denied").
     */
    public static TlsSession startTls(UserObjects objects, TlsCreds creds, String authzId,
                                      SocketChannel channel, Duration timeout) throws IOException {
        TlsSession s = creds.serverHandshake(channel, timeout);
        String why = denial(objects, authzId, s, creds instanceof TlsCredsX509);
        if (why != null) {
            s.close();
            throw new TlsHandshakeException(why, null);
        }
        return s;
    }
}
