package jsd.crypto;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.daemon.UserObjects;
import jsd.qapi.QapiError;

import javax.net.ssl.CertPathTrustManagerParameters;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.CertStore;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.X509CRL;
import java.security.cert.X509CertSelector;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Date;
import java.util.EnumSet;
import java.util.List;

/**
 * tls-creds-x509: certificates and key from a directory (ca-cert.pem,
 * server-cert.pem + server-key.pem or client-cert.pem + client-key.pem,
 * optional ca-crl.pem), checked at creation as QEMU does, then served with
 * the JDK's TLS (JSSE SSLEngine, TLS 1.3 and 1.2). With verify-peer (the
 * default) a server asks for a client certificate and checks it against the
 * CA and CRL.
 */
public final class TlsCredsX509 implements TlsCreds {
    public static final String TYPE = "tls-creds-x509";
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final boolean server;
    private final boolean verifyPeer;
    private final SSLContext context;

    private TlsCredsX509(boolean server, boolean verifyPeer, SSLContext context) {
        this.server = server;
        this.verifyPeer = verifyPeer;
        this.context = context;
    }

    @Override
    public boolean isServer() { return server; }

    public boolean verifyPeer() { return verifyPeer; }

    static TlsCredsX509 create(ObjectNode o, UserObjects objects) throws IOException {
        if (!o.hasNonNull("dir")) throw QapiError.generic("Missing 'dir' property value");
        Path dir = Path.of(o.get("dir").asText());
        boolean server = !o.hasNonNull("endpoint") || o.get("endpoint").asText().equals("server");
        boolean verifyPeer = !o.hasNonNull("verify-peer") || o.get("verify-peer").asBoolean();
        boolean sanity = !o.hasNonNull("sanity-check") || o.get("sanity-check").asBoolean();
        char[] password = o.hasNonNull("passwordid")
                ? Secret.lookup(objects, o.get("passwordid").asText()).text().toCharArray() : null;

        String side = server ? "server" : "client";
        Path caFile = dir.resolve("ca-cert.pem");
        Path crlFile = dir.resolve("ca-crl.pem");
        Path certFile = dir.resolve(side + "-cert.pem");
        Path keyFile = dir.resolve(side + "-key.pem");

        // A client may have no certificate of its own; a server must, and both need the CA.
        // (QEMU 7.2 asks for the CA even with verify-peer=off.)
        required(caFile);
        boolean haveOwn = server || (Files.exists(certFile) && Files.exists(keyFile));
        if (server) {
            required(certFile);
            required(keyFile);
        }

        List<X509Certificate> cas;
        try {
            cas = PemFiles.certificates(caFile);
        } catch (PemFiles.PemException e) {
            throw QapiError.generic("Unable to import CA certificate list %s", caFile);
        }
        List<X509CRL> crls = List.of();
        if (Files.exists(crlFile)) {
            try {
                crls = PemFiles.crls(crlFile);
            } catch (PemFiles.PemException e) {
                throw QapiError.generic("Cannot load CRL '%s': %s", crlFile, e.getMessage());
            }
        }
        List<X509Certificate> own = List.of();
        PrivateKey key = null;
        if (haveOwn) {
            try {
                own = PemFiles.certificates(certFile);
            } catch (PemFiles.PemException e) {
                throw QapiError.generic("Unable to import %s certificate %s: %s", side, certFile, e.getMessage());
            }
            try {
                key = PemFiles.privateKey(keyFile, password);
            } catch (PemFiles.PemException e) {
                throw cannotLoad(certFile, keyFile, e.getMessage());
            }
            if (!X509Checks.keyMatches(key, own.getFirst().getPublicKey())) {
                throw cannotLoad(certFile, keyFile, "The certificate and the given key do not match.");
            }
        }

        if (sanity) {
            Date now = new Date();
            for (X509Certificate ca : cas) {
                X509Checks.validity(ca, caFile, "CA", now);
                X509Checks.basicConstraints(ca, caFile, true, server);
                X509Checks.keyUsage(ca, caFile, true);
            }
            if (haveOwn) {
                X509Certificate leaf = own.getFirst();
                X509Checks.validity(leaf, certFile, side, now);
                X509Checks.basicConstraints(leaf, certFile, false, server);
                X509Checks.keyUsage(leaf, certFile, false);
                X509Checks.purpose(leaf, certFile, server);
                X509Checks.chain(own, cas, certFile, caFile);
            }
        }

        try {
            return new TlsCredsX509(server, verifyPeer, context(own, key, cas, crls, server || verifyPeer));
        } catch (GeneralSecurityException e) {
            throw QapiError.generic("Unable to set up TLS credentials from %s: %s", dir, e.getMessage());
        }
    }

    private static SSLContext context(List<X509Certificate> own, PrivateKey key, List<X509Certificate> cas,
                                      List<X509CRL> crls, boolean trust) throws GeneralSecurityException, IOException {
        KeyManagerFactory kmf = null;
        if (key != null) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] none = new char[0];
            ks.setKeyEntry("own", key, none, own.toArray(X509Certificate[]::new));
            kmf = KeyManagerFactory.getInstance("SunX509");
            kmf.init(ks, none);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        for (int i = 0; i < cas.size(); i++) anchors.setCertificateEntry("ca" + i, cas.get(i));
        PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, new X509CertSelector());
        if (crls.isEmpty()) {
            params.setRevocationEnabled(false);
        } else {
            // Only the CRL from the directory counts: no OCSP, no fetching, and a
            // certificate the CRL does not cover is not an error; a revoked one is.
            params.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(crls)));
            PKIXRevocationChecker rc = (PKIXRevocationChecker) java.security.cert.CertPathValidator
                    .getInstance("PKIX").getRevocationChecker();
            rc.setOptions(EnumSet.of(PKIXRevocationChecker.Option.PREFER_CRLS,
                    PKIXRevocationChecker.Option.NO_FALLBACK, PKIXRevocationChecker.Option.SOFT_FAIL));
            params.addCertPathChecker(rc);
            params.setRevocationEnabled(true);
        }
        tmf.init(new CertPathTrustManagerParameters(params));
        SSLContext ctx = SSLContext.getInstance("TLS");
        javax.net.ssl.TrustManager[] tms = tmf.getTrustManagers();
        for (int i = 0; i < tms.length; i++) {
            if (tms[i] instanceof javax.net.ssl.X509ExtendedTrustManager x) tms[i] = new QuietTrustManager(x);
        }
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), trust ? tms : null, null);
        return ctx;
    }

    @Override
    public TlsSession serverHandshake(SocketChannel channel, Duration timeout) throws IOException {
        if (!server) {
            channel.close();
            throw new IllegalStateException("tls-creds-x509 with endpoint=client used by a server");
        }
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(false);
        engine.setEnabledProtocols(PROTOCOLS);
        if (verifyPeer) engine.setNeedClientAuth(true);
        return JsseTlsSession.handshake(channel, engine, timeout);
    }

    private static void required(Path f) {
        if (!Files.exists(f)) throw QapiError.generic("Unable to access credentials %s: No such file or directory", f);
    }

    private static QapiError cannotLoad(Path cert, Path key, String why) {
        return QapiError.generic("Cannot load certificate '%s' & key '%s': %s", cert, key, why);
    }
}
