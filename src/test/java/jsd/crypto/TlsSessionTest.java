package jsd.crypto;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.daemon.UserObjects;
import jsd.testing.TestPki;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.DataInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server side of TLS (x509 on JSSE, PSK on Bouncy Castle) against the
 * real GnuTLS client, gnutls-cli, over TLS 1.3 and 1.2: identities, peer
 * verification, wrong CA, expired and revoked certificates, wrong keys, a
 * stalled handshake, and a bulk transfer with reads and writes on separate
 * threads.
 */
class TlsSessionTest {
    private static final String TLS13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
    private static final String TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
    private static final String PSK13 = "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK:-VERS-ALL:+VERS-TLS1.3";
    /** Plain PSK: gnutls-cli 3.7.9 itself crashes after any (EC)DHE-PSK TLS 1.2 handshake, even with gnutls-serv. */
    private static final String PSK12 = "NORMAL:-KX-ALL:+PSK:-VERS-ALL:+VERS-TLS1.2";
    private static final String ALICE_KEY = "d39140cec63bb4bfcb0abb2404a3b537d2336d918f0ac6849378e27170a9c740";

    private static Path tmp;
    private static TestPki pki;
    private static TlsEchoServer x509;
    private static TlsEchoServer psk;

    @BeforeAll
    static void setUp() throws Exception {
        tmp = Files.createTempDirectory("jsd-tls-");
        pki = TestPki.create(tmp);
        x509 = new TlsEchoServer(x509(pki.serverDir(), true), Duration.ofSeconds(2));
        Path pskDir = Files.createDirectories(tmp.resolve("psk"));
        Files.writeString(pskDir.resolve("keys.psk"), "bob:00112233445566778899aabbccddeeff\nalice:" + ALICE_KEY + "\n");
        psk = new TlsEchoServer(TlsCredsPsk.create(options("tls-creds-psk", pskDir).put("endpoint", "server")),
                Duration.ofSeconds(2));
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (x509 != null) x509.close();
        if (psk != null) psk.close();
    }

    static ObjectNode options(String type, Path dir) {
        return JsonNodeFactory.instance.objectNode().put("qom-type", type).put("id", "t").put("dir", dir.toString());
    }

    static TlsCredsX509 x509(Path dir, boolean verifyPeer) throws Exception {
        return TlsCredsX509.create(options("tls-creds-x509", dir).put("endpoint", "server")
                .put("verify-peer", verifyPeer), new UserObjects());
    }

    private static String[] clientCert(Path certFile, Path keyFile) {
        return new String[] {"--x509cafile", pki.file("ca-cert.pem").toString(),
                "--x509certfile", certFile.toString(), "--x509keyfile", keyFile.toString()};
    }

    private static String[] goodClient() {
        return clientCert(pki.file("client-cert.pem"), pki.file("client-key.pem"));
    }

    @Test
    void x509Tls13WithClientCertificateGivesItsDistinguishedName() throws Exception {
        var r = GnutlsCli.run(x509.port(), TLS13, goodClient());
        TlsSession s = assertInstanceOf(TlsSession.class, x509.next(), r::toString);
        assertEquals("TLSv1.3", s.protocol());
        assertEquals(TestPki.CLIENT_DN, s.peerIdentity());
        assertTrue(r.stdout().contains("hello id=" + TestPki.CLIENT_DN + " proto=TLSv1.3"), r::toString);
        assertTrue(r.echoed(), r::toString);
    }

    @Test
    void x509Tls12Works() throws Exception {
        var r = GnutlsCli.run(x509.port(), TLS12, goodClient());
        TlsSession s = assertInstanceOf(TlsSession.class, x509.next(), r::toString);
        assertEquals("TLSv1.2", s.protocol());
        assertEquals(TestPki.CLIENT_DN, s.peerIdentity());
        assertTrue(r.echoed(), r::toString);
    }

    @Test
    void clientWithoutCertificateIsRefusedWhenPeerIsVerified() throws Exception {
        var r = GnutlsCli.run(x509.port(), TLS13, "--x509cafile", pki.file("ca-cert.pem").toString());
        assertInstanceOf(TlsHandshakeException.class, x509.next(), r::toString);
        assertFalse(r.echoed(), r::toString);
    }

    @Test
    void withoutPeerVerificationNoClientCertificateIsNeeded() throws Exception {
        try (TlsEchoServer open = new TlsEchoServer(x509(pki.serverDir(), false), Duration.ofSeconds(2))) {
            var r = GnutlsCli.run(open.port(), TLS13, "--x509cafile", pki.file("ca-cert.pem").toString());
            TlsSession s = assertInstanceOf(TlsSession.class, open.next(), r::toString);
            assertEquals(null, s.peerIdentity());
            assertTrue(r.echoed(), r::toString);
        }
    }

    @Test
    void clientCertificateFromAnotherCaIsRefused() throws Exception {
        pki.otherCa("other-ca-key.pem", "other-ca-cert.pem");
        // a client certificate that the other CA issued, with the same subject
        Path d = Files.createDirectories(tmp.resolve("other"));
        Files.write(d.resolve("c.info"), java.util.List.of("cn = laptop.example.com", "tls_www_client", "signing_key",
                "expiration_days = 30"));
        jsd.testing.Tools.run(d, "certtool", "--generate-certificate", "--load-ca-certificate",
                pki.file("other-ca-cert.pem").toString(), "--load-ca-privkey", pki.file("other-ca-key.pem").toString(),
                "--load-privkey", pki.file("client-key.pem").toString(), "--template", d.resolve("c.info").toString(),
                "--outfile", d.resolve("cert.pem").toString()).expectOk();
        for (String prio : new String[] {TLS13, TLS12}) {
            var r = GnutlsCli.run(x509.port(), prio, clientCert(d.resolve("cert.pem"), pki.file("client-key.pem")));
            assertInstanceOf(TlsHandshakeException.class, x509.next(), r::toString);
            assertFalse(r.echoed(), r::toString);
        }
    }

    @Test
    void expiredClientCertificateIsRefused() throws Exception {
        pki.issue("expired-client", "client-key.pem", "expired-client-cert.pem", "cn = laptop.example.com",
                "tls_www_client", "signing_key", "activation_date = \"2019-01-01 00:00:00\"",
                "expiration_date = \"2020-01-01 00:00:00\"");
        var r = GnutlsCli.run(x509.port(), TLS13, clientCert(pki.file("expired-client-cert.pem"), pki.file("client-key.pem")));
        var e = assertInstanceOf(TlsHandshakeException.class, x509.next(), r::toString);
        assertFalse(r.echoed(), r::toString);
        assertTrue(String.valueOf(e.getMessage()).contains("handshake failed"), e::getMessage);
    }

    @Test
    void revokedClientCertificateIsRefused() throws Exception {
        Path d = pki.layout("crl", "ca-cert.pem", "server-cert.pem", "server-key.pem");
        Files.write(d.resolve("crl.info"), java.util.List.of("crl_next_update = 30", "crl_number = 7"));
        jsd.testing.Tools.run(d, "certtool", "--generate-crl", "--load-ca-privkey", pki.file("ca-key.pem").toString(),
                "--load-ca-certificate", pki.file("ca-cert.pem").toString(),
                "--load-certificate", pki.file("client-cert.pem").toString(),
                "--template", d.resolve("crl.info").toString(), "--outfile", d.resolve("ca-crl.pem").toString()).expectOk();
        try (TlsEchoServer withCrl = new TlsEchoServer(x509(d, true), Duration.ofSeconds(2))) {
            var r = GnutlsCli.run(withCrl.port(), TLS13, goodClient());
            assertInstanceOf(TlsHandshakeException.class, withCrl.next(), r::toString);
            assertFalse(r.echoed(), r::toString);
        }
    }

    @Test
    void clientRefusesServerOfAnotherCa() throws Exception {
        pki.otherCa("other-ca2-key.pem", "other-ca2-cert.pem");
        var r = GnutlsCli.run(x509.port(), TLS13, "--x509cafile", pki.file("other-ca2-cert.pem").toString(),
                "--x509certfile", pki.file("client-cert.pem").toString(),
                "--x509keyfile", pki.file("client-key.pem").toString());
        assertInstanceOf(TlsHandshakeException.class, x509.next(), r::toString);
        assertNotEquals(0, r.exitCode(), r::toString);
        assertFalse(r.echoed(), r::toString);
    }

    @Test
    void pskTls13AndTls12GiveTheUsername() throws Exception {
        for (String prio : new String[] {PSK13, PSK12}) {
            var r = GnutlsCli.run(psk.port(), prio, "--pskusername", "alice", "--pskkey", ALICE_KEY);
            Object o = psk.next();
            TlsSession s = assertInstanceOf(TlsSession.class, o, () -> prio + " " + r + "\nserver: " + trace(o));
            assertEquals("alice", s.peerIdentity());
            assertEquals(prio == PSK13 ? "TLSv1.3" : "TLSv1.2", s.protocol());
            assertTrue(r.echoed(), r::toString);
        }
    }

    @Test
    void wrongPskOrUnknownUserIsRefused() throws Exception {
        for (String prio : new String[] {PSK13, PSK12}) {
            var r = GnutlsCli.run(psk.port(), prio, "--pskusername", "alice", "--pskkey", ALICE_KEY.replace('d', 'e'));
            assertInstanceOf(TlsHandshakeException.class, psk.next(), r::toString);
            assertFalse(r.echoed(), r::toString);
            r = GnutlsCli.run(psk.port(), prio, "--pskusername", "mallory", "--pskkey", ALICE_KEY);
            assertInstanceOf(TlsHandshakeException.class, psk.next(), r::toString);
            assertFalse(r.echoed(), r::toString);
        }
    }

    @Test
    void stalledHandshakeTimesOutWithoutBlockingOthers() throws Exception {
        try (Socket staller = new Socket("127.0.0.1", x509.port())) {
            staller.getOutputStream().write(0x16); // the first byte of a ClientHello, then nothing
            staller.getOutputStream().flush();
            var r = GnutlsCli.run(x509.port(), TLS13, goodClient());
            assertTrue(r.echoed(), r::toString);
            Object first = x509.next();
            Object second = x509.next();
            Object stalled = first instanceof TlsSession ? second : first;
            var e = assertInstanceOf(TlsHandshakeException.class, stalled);
            assertTrue(e.getMessage().contains("timed out"), e::getMessage);
            assertEquals(-1, staller.getInputStream().read(), "the stalled socket is closed");
        }
    }

    /** tls-authz by id, looked up per connection: allow, deny, replaced, missing; PSK usernames too. */
    @Test
    void authzIsCheckedAtEachConnection() throws Exception {
        UserObjects objects = new UserObjects();
        Crypto.installFactories(objects);
        TlsCreds creds = x509(pki.serverDir(), true);
        try (TlsEchoServer guarded = new TlsEchoServer(ch -> Crypto.startTls(objects, creds, "acl", ch, Duration.ofSeconds(2)))) {
            // missing object: denied
            var r = GnutlsCli.run(guarded.port(), TLS13, goodClient());
            var e = assertInstanceOf(TlsHandshakeException.class, guarded.next(), r::toString);
            assertEquals("Cannot find QAuthZ object ID acl", e.getMessage());
            assertFalse(r.echoed(), r::toString);

            objects.add(authz("authz-simple", "identity", TestPki.CLIENT_DN));
            r = GnutlsCli.run(guarded.port(), TLS12, goodClient());
            assertInstanceOf(TlsSession.class, guarded.next(), r::toString);
            assertTrue(r.echoed(), r::toString);

            // replaced while the server runs
            objects.delete("acl");
            objects.add(authz("authz-simple", "identity", "CN=someone else"));
            r = GnutlsCli.run(guarded.port(), TLS13, goodClient());
            e = assertInstanceOf(TlsHandshakeException.class, guarded.next(), r::toString);
            assertEquals("TLS x509 authz check for " + TestPki.CLIENT_DN + " is denied", e.getMessage());
            assertFalse(r.echoed(), r::toString);

            objects.delete("acl");
            var list = authz("authz-list", "policy", "deny");
            list.putArray("rules").addObject().put("match", "C=GB,*,CN=*.example.com").put("policy", "allow").put("format", "glob");
            objects.add(list);
            r = GnutlsCli.run(guarded.port(), TLS13, goodClient());
            assertInstanceOf(TlsSession.class, guarded.next(), r::toString);
            assertTrue(r.echoed(), r::toString);
        }
        Path pskDir = tmp.resolve("psk");
        TlsCreds pskCreds = TlsCredsPsk.create(options("tls-creds-psk", pskDir).put("endpoint", "server"));
        objects.delete("acl");
        objects.add(authz("authz-simple", "identity", "bob"));
        try (TlsEchoServer guarded = new TlsEchoServer(ch -> Crypto.startTls(objects, pskCreds, "acl", ch, Duration.ofSeconds(2)))) {
            var r = GnutlsCli.run(guarded.port(), PSK13, "--pskusername", "alice", "--pskkey", ALICE_KEY);
            var e = assertInstanceOf(TlsHandshakeException.class, guarded.next(), r::toString);
            assertEquals("TLS PSK authz check for alice is denied", e.getMessage());
            assertFalse(r.echoed(), r::toString);
            r = GnutlsCli.run(guarded.port(), PSK13, "--pskusername", "bob", "--pskkey", "00112233445566778899aabbccddeeff");
            assertInstanceOf(TlsSession.class, guarded.next(), r::toString);
            assertTrue(r.echoed(), r::toString);
        }
    }

    private static ObjectNode authz(String type, String key, String value) {
        return JsonNodeFactory.instance.objectNode().put("qom-type", type).put("id", "acl").put(key, value);
    }

    /** Megabytes both ways at once through the JDK's own client, checked byte for byte. */
    @Test
    void bulkTransferInBothDirectionsKeepsEveryByte() throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(pki.file("ca-cert.pem"))) {
            trust.setCertificateEntry("ca", (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        KeyStore own = KeyStore.getInstance("PKCS12");
        own.load(null, null);
        var certs = PemFiles.certificates(pki.file("client-cert.pem"));
        own.setKeyEntry("me", PemFiles.privateKey(pki.file("client-key.pem"), null), new char[0],
                certs.toArray(X509Certificate[]::new));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(trust);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
        kmf.init(own, new char[0]);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);

        long seed = new Random().nextLong();
        byte[] data = new byte[12 << 20];
        new Random(seed).nextBytes(data);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("localhost", x509.port())) {
            s.startHandshake();
            DataInputStream in = new DataInputStream(s.getInputStream());
            String hello = readLine(in);
            assertTrue(hello.startsWith("hello id=" + TestPki.CLIENT_DN), hello);
            OutputStream out = s.getOutputStream();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    Random sizes = new Random(seed);
                    for (int off = 0; off < data.length; ) {
                        int n = Math.min(data.length - off, 1 + sizes.nextInt(200_000));
                        out.write(data, off, n);
                        off += n;
                    }
                    out.flush();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            byte[] back = new byte[data.length];
            in.readFully(back);
            writer.join();
            assertEquals(MessageDigest.getInstance("SHA-256").digest(data).length, 32);
            assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(data),
                    MessageDigest.getInstance("SHA-256").digest(back), "seed " + seed);
            assertTrue(Arrays.equals(data, back), "seed " + seed);
        }
        assertInstanceOf(TlsSession.class, x509.next());
    }

    static String trace(Object o) {
        if (!(o instanceof Throwable t)) return String.valueOf(o);
        var w = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(w));
        return w.toString();
    }

    private static String readLine(InputStream in) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int c; (c = in.read()) >= 0 && c != '\n'; ) sb.append((char) c);
        return sb.toString();
    }
}
