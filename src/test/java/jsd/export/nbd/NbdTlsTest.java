package jsd.export.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.TestPki;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NBD server with tls-creds, against the real GnuTLS clients (qemu-img,
 * qemu-io, nbdinfo, libnbd) and Python's TLS where a client has to misbehave:
 * x509 (RSA and ECDSA client keys) and PSK, plaintext refused, wrong CA,
 * expired certificate, wrong key, tls-authz allow/deny/replace at run time,
 * max-connections and hard export deletion, a stalled handshake, object-del
 * of credentials in use. One daemon; each test (re)starts the NBD server
 * with the credentials it needs.
 */
class NbdTlsTest {
    private static final String ALICE_KEY = "d39140cec63bb4bfcb0abb2404a3b537d2336d918f0ac6849378e27170a9c740";
    private static final String BOB_KEY = "00112233445566778899aabbccddeeff";

    static Path work;
    static TestPki pki;
    static JsdProcess jsd;
    static QmpClient qmp;
    static int port;
    static Path rsaClient;
    static Path pskDir;

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-nbd-tls-");
        pki = TestPki.create(work.resolve("pki"));
        // an RSA client key, as certtool makes by default (qemu's documentation)
        pki.key("rsa-client-key.pem", "rsa");
        pki.issue("rsa-client", "rsa-client-key.pem", "rsa-client-cert.pem", "country = GB", "state = London",
                "locality = London", "organization = Example Org", "cn = laptop.example.com", "tls_www_client",
                "encryption_key", "signing_key", "expiration_days = 30");
        rsaClient = clientDir("rsa-client", "rsa-client-cert.pem", "rsa-client-key.pem", "ca-cert.pem");
        pki.issue("expired-client", "client-key.pem", "expired-client-cert.pem", "cn = laptop.example.com",
                "tls_www_client", "signing_key", "activation_date = \"2019-01-01 00:00:00\"",
                "expiration_date = \"2020-01-01 00:00:00\"");
        clientDir("expired", "expired-client-cert.pem", "client-key.pem", "ca-cert.pem");
        pki.otherCa("other-ca-key.pem", "other-ca-cert.pem");
        clientDir("wrong-ca", "client-cert.pem", "client-key.pem", "other-ca-cert.pem");
        pki.layout("no-cert", "ca-cert.pem");

        pskDir = Files.createDirectories(work.resolve("psk"));
        Files.writeString(pskDir.resolve("keys.psk"), "alice:" + ALICE_KEY + "\nbob:" + BOB_KEY + "\n");
        Files.writeString(work.resolve("alice.psk"), "alice:" + ALICE_KEY + "\n");
        Files.writeString(work.resolve("bob.psk"), "bob:" + BOB_KEY + "\n");
        Files.writeString(work.resolve("wrong.psk"), "alice:" + BOB_KEY + BOB_KEY + "\n");
        Files.createDirectories(work.resolve("alice"));
        Files.writeString(work.resolve("alice/keys.psk"), "alice:" + ALICE_KEY + "\n");

        Path image = work.resolve("disk.img");
        try (var f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        jsd = JsdProcess.startWithEnv(Map.of("JSD_JAVA_OPTS", "-Djsd.tls.handshake-timeout-ms=1500"),
                "--object", "tls-creds-x509,id=tls0,endpoint=server,dir=" + pki.serverDir(),
                "--object", "tls-creds-x509,id=tlsc,endpoint=client,dir=" + pki.clientDir(),
                "--object", "tls-creds-psk,id=psk0,endpoint=server,dir=" + pskDir,
                "--object", "authz-simple,id=alice,identity=alice",
                "--blockdev", "file,node-name=f,filename=" + image,
                "--blockdev", "raw,node-name=r,file=f");
        qmp = jsd.qmp();
        allowClient();
    }

    @AfterAll
    static void stop() throws Exception {
        if (qmp != null) qmp.close();
        if (jsd != null) jsd.close();
        Tools.run(null, "rm", "-rf", work.toString());
    }

    private static Path clientDir(String name, String cert, String key, String ca) throws Exception {
        Path d = Files.createDirectories(pki.root().resolve(name));
        pki.put(d, cert, "client-cert.pem");
        pki.put(d, key, "client-key.pem");
        pki.put(d, ca, "ca-cert.pem");
        return d;
    }

    /** az0 lets exactly the test client's distinguished name in. */
    private static void allowClient() throws Exception {
        qmp.execute("object-del", Map.of("id", "az0"));
        qmp.ok("object-add", Map.of("qom-type", "authz-simple", "id", "az0", "identity", TestPki.CLIENT_DN));
    }

    /** (Re)starts the NBD server with these credentials (and tls-authz, max-connections) and exports "disk". */
    private static void serve(String creds, String authz, int max) throws Exception {
        stopServer();
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("addr", Map.of("type", "inet", "data", Map.of("host", "127.0.0.1", "port", String.valueOf(port))));
        args.put("tls-creds", creds);
        if (authz != null) args.put("tls-authz", authz);
        if (max > 0) args.put("max-connections", max);
        qmp.ok("nbd-server-start", args);
        qmp.ok("block-export-add", Map.of("type", "nbd", "id", "e", "node-name", "r", "name", "disk", "writable", true));
    }

    /** Stops the NBD server if it runs, and takes the BLOCK_EXPORT_DELETED events that causes. */
    private static void stopServer() throws Exception {
        int exports = qmp.ok("query-block-exports", null).size();
        if (!qmp.execute("nbd-server-stop", null).has("return")) return;
        for (int i = 0; i < exports; i++) qmp.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
    }

    private static String uri(Path certs) { return "nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + certs; }

    private static String pskUri(String user, Path file) {
        return "nbds://" + user + "@127.0.0.1:" + port + "/disk?tls-psk-file=" + file;
    }

    private static Tools.Output run(String... cmd) throws Exception { return Tools.run(work, 60, List.of(cmd)); }

    private static String imageOpts(String creds) {
        return "driver=nbd,host=127.0.0.1,port=" + port + ",export=disk,tls-creds=" + creds;
    }

    private static String x509Client(Path dir) { return "tls-creds-x509,id=c,endpoint=client,dir=" + dir; }

    private static Tools.Output helper(String... args) throws Exception {
        Path script = Path.of(NbdTlsTest.class.getResource("tls_client.py").toURI());
        List<String> cmd = new ArrayList<>(List.of("python3", script.toString()));
        cmd.addAll(List.of(args));
        return Tools.run(work, 60, cmd);
    }

    /** Waits until the daemon's log contains text. */
    private static void awaitLog(String text) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!jsd.output().contains(text)) {
            if (System.nanoTime() > deadline) throw new AssertionError("no '" + text + "' in the log:\n" + jsd.output());
            Thread.sleep(50);
        }
    }

    @Test
    void x509ClientsReadAndWriteAndPlaintextIsRefused() throws Exception {
        serve("tls0", "az0", 0);
        String info = run("nbdinfo", uri(pki.clientDir())).expectOk().stdout();
        assertTrue(info.contains("with TLS") && info.contains("67108864"), info);
        String list = run("nbdinfo", "--list", "nbds://127.0.0.1:" + port + "/?tls-certificates=" + pki.clientDir())
                .expectOk().stdout();
        assertTrue(list.contains("export=\"disk\""), list);

        run("qemu-io", "--object", x509Client(pki.clientDir()), "--image-opts", imageOpts("c"),
                "-c", "write -P 0x5a 1M 3M").expectOk();
        // an RSA client key (GnuTLS picks its certificate differently for RSA)
        String read = run("qemu-io", "--object", x509Client(rsaClient), "--image-opts", imageOpts("c"),
                "-c", "read -P 0x5a 1M 3M", "-c", "read -P 0 0 1M").expectOk().stdout();
        assertTrue(!read.contains("Pattern verification failed"), read);
        String img = run("qemu-img", "info", "--object", x509Client(rsaClient), "--image-opts", imageOpts("c"))
                .expectOk().stdout();
        assertTrue(img.contains("virtual size: 64 MiB"), img);
        Path copy = work.resolve("copy.raw");
        run("qemu-img", "convert", "--object", x509Client(pki.clientDir()), "--image-opts", imageOpts("c"),
                "-O", "raw", copy.toString()).expectOk();
        byte[] data = Files.readAllBytes(copy);
        assertEquals(64 << 20, data.length);
        assertEquals(0x5a, data[(1 << 20) + 12345]);
        assertEquals(0, data[12345]);

        // plaintext: options refused with TLS_REQD, EXPORT_NAME closes the connection; nbdinfo fails
        String plain = helper("plain", String.valueOf(port)).expectOk().stdout();
        assertTrue(plain.contains("list: 3 0x80000005 Option 0x3 not permitted before TLS"), plain);
        assertTrue(plain.contains("go: 7 0x80000005 Option 0x7 not permitted before TLS"), plain);
        assertTrue(plain.contains("export-name: closed"), plain);
        awaitLog("option negotiation failed: Option 0x1 not permitted before TLS");
        assertNotEquals(0, run("nbdinfo", "nbd://127.0.0.1:" + port + "/disk").exitCode());
    }

    @Test
    void tls12AndTls13AndSecondStartTlsIsInvalid() throws Exception {
        serve("tls0", "az0", 0);
        for (String v : List.of("1.2", "1.3")) {
            String out = helper("restart", String.valueOf(port), pki.clientDir().toString(), v).expectOk().stdout();
            assertTrue(out.contains("starttls: 5 0x1"), out);
            assertTrue(out.contains("version: TLSv" + v), out);
            assertTrue(out.contains("again: 5 0x80000003 TLS already enabled"), out);
            assertTrue(out.contains("list: 3 0x2"), out); // NBD_REP_SERVER: the session goes on
        }
    }

    @Test
    void wrongCaExpiredCertificateAndNoCertificateFail() throws Exception {
        serve("tls0", null, 0);
        // the client does not trust the server's CA
        var wrongCa = run("nbdinfo", uri(pki.root().resolve("wrong-ca")));
        assertNotEquals(0, wrongCa.exitCode(), wrongCa::toString);
        // the server refuses an expired client certificate, and a client without one (verify-peer is on)
        var expired = run("nbdinfo", uri(pki.root().resolve("expired")));
        assertNotEquals(0, expired.exitCode(), expired::toString);
        var noCert = run("nbdinfo", uri(pki.root().resolve("no-cert")));
        assertNotEquals(0, noCert.exitCode(), noCert::toString);
        awaitLog("option negotiation failed: TLS handshake failed");
        run("nbdinfo", uri(pki.clientDir())).expectOk();
    }

    @Test
    void authzIsLookedUpPerConnectionAndCanBeReplaced() throws Exception {
        serve("tls0", "az0", 0);
        try {
            run("nbdinfo", uri(pki.clientDir())).expectOk();
            qmp.ok("object-del", Map.of("id", "az0"));
            assertNotEquals(0, run("nbdinfo", uri(pki.clientDir())).exitCode());
            awaitLog("option negotiation failed: Cannot find QAuthZ object ID az0");
            qmp.ok("object-add", Map.of("qom-type", "authz-simple", "id", "az0", "identity", "CN=someone else"));
            assertNotEquals(0, run("nbdinfo", uri(pki.clientDir())).exitCode());
            awaitLog("option negotiation failed: TLS x509 authz check for " + TestPki.CLIENT_DN + " is denied");
            qmp.ok("object-del", Map.of("id", "az0"));
            qmp.ok("object-add", Map.of("qom-type", "authz-list", "id", "az0", "policy", "deny", "rules",
                    List.of(Map.of("match", "*CN=laptop.example.com", "format", "glob", "policy", "allow"))));
            run("nbdinfo", uri(rsaClient)).expectOk();
        } finally {
            allowClient();
        }
    }

    @Test
    void pskClientsAndPskAuthz() throws Exception {
        serve("psk0", "alice", 0);
        String info = run("nbdinfo", pskUri("alice", work.resolve("alice.psk"))).expectOk().stdout();
        assertTrue(info.contains("with TLS"), info);
        String img = run("qemu-img", "info", "--object",
                "tls-creds-psk,id=c,endpoint=client,username=alice,dir=" + work.resolve("alice"),
                "--image-opts", imageOpts("c")).expectOk().stdout();
        assertTrue(img.contains("virtual size: 64 MiB"), img);
        // a wrong key fails the handshake; bob's key is right but tls-authz lets only alice in
        assertNotEquals(0, run("nbdinfo", pskUri("alice", work.resolve("wrong.psk"))).exitCode());
        assertNotEquals(0, run("nbdinfo", pskUri("bob", work.resolve("bob.psk"))).exitCode());
        awaitLog("option negotiation failed: TLS PSK authz check for bob is denied");
        // and plaintext is refused here too
        assertNotEquals(0, run("nbdinfo", "nbd://127.0.0.1:" + port + "/disk").exitCode());
    }

    @Test
    void stalledHandshakeDoesNotBlockOthersAndIsDropped() throws Exception {
        serve("tls0", "az0", 0);
        try (Socket stalled = new Socket("127.0.0.1", port)) {
            stalled.setSoTimeout(10_000);
            var in = stalled.getInputStream();
            OutputStream out = stalled.getOutputStream();
            in.readNBytes(18);
            ByteBuffer b = ByteBuffer.allocate(20).putInt(3).putLong(0x49484156454F5054L).putInt(5).putInt(0);
            out.write(b.array());
            byte[] ack = in.readNBytes(20);
            assertEquals(1, ByteBuffer.wrap(ack).getInt(12), "STARTTLS is acknowledged");
            // no ClientHello follows; other clients go on meanwhile
            long t0 = System.nanoTime();
            run("nbdinfo", uri(pki.clientDir())).expectOk();
            assertEquals(-1, in.read(), "the server drops the stalled client");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms < 8000, "dropped after " + ms + " ms");
        }
        awaitLog("option negotiation failed: TLS handshake timed out");
    }

    @Test
    void maxConnectionsAndHardDeleteHoldUnderTls() throws Exception {
        serve("tls0", "az0", 1);
        Process first = holder();
        // the only slot is taken: a second client waits in the backlog until the first leaves
        ProcessBuilder pb = new ProcessBuilder("nbdinfo", uri(pki.clientDir())).redirectErrorStream(true);
        Process second = pb.start();
        assertTrue(!second.waitFor(1500, TimeUnit.MILLISECONDS), "a second client must wait for the slot");
        assertEquals("read ok", release(first));
        assertTrue(second.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, second.exitValue(), new String(second.getInputStream().readAllBytes()));

        // a hard delete drops a TLS client at once
        Process held = holder();
        qmp.ok("block-export-del", Map.of("id", "e", "mode", "hard"));
        JsonNode ev = qmp.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
        assertEquals("e", ev.path("data").path("id").asText());
        assertTrue(release(held).startsWith("read failed"));
    }

    @Test
    void credentialsInUseCannotBeDeleted() throws Exception {
        stopServer();
        qmp.ok("object-add", Map.of("qom-type", "tls-creds-x509", "id", "tls1", "endpoint", "server",
                "dir", pki.serverDir().toString()));
        serve("tls1", "az0", 0);
        JsonNode err = qmp.error("object-del", Map.of("id", "tls1"));
        assertEquals("object 'tls1' is in use, can not be deleted", err.path("desc").asText());
        run("nbdinfo", uri(pki.clientDir())).expectOk();
        stopServer();
        qmp.ok("object-del", Map.of("id", "tls1"));
    }

    @Test
    void serverStartChecksTheCredentialsLikeQsd() throws Exception {
        stopServer();
        Map<String, Object> addr = Map.of("type", "inet", "data", Map.of("host", "127.0.0.1", "port", String.valueOf(port)));
        assertEquals("No TLS credentials with id 'nope'",
                qmp.error("nbd-server-start", Map.of("addr", addr, "tls-creds", "nope")).path("desc").asText());
        assertEquals("Object with id 'az0' is not TLS credentials",
                qmp.error("nbd-server-start", Map.of("addr", addr, "tls-creds", "az0")).path("desc").asText());
        assertEquals("Expected TLS credentials for a server endpoint",
                qmp.error("nbd-server-start", Map.of("addr", addr, "tls-creds", "tlsc")).path("desc").asText());
        // the address is free again after each refusal
        serve("tls0", null, 0);
        run("nbdinfo", uri(pki.clientDir())).expectOk();
    }

    /** A libnbd client connected over TLS, waiting for {@link #release}. */
    private static Process holder() throws Exception {
        Path script = Path.of(NbdTlsTest.class.getResource("tls_client.py").toURI());
        Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), "hold", String.valueOf(port),
                pki.clientDir().toString()).redirectErrorStream(true).start();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = r.readLine();
        assertEquals("ready", line, () -> line + readRest(r));
        holders.put(p, r);
        return p;
    }

    private static final Map<Process, BufferedReader> holders = new java.util.concurrent.ConcurrentHashMap<>();

    /** Lets a holder read 4k and leave; returns what it reported. */
    private static String release(Process p) throws Exception {
        BufferedReader r = holders.remove(p);
        p.getOutputStream().write('\n');
        p.getOutputStream().flush();
        String line = r.readLine();
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        return line;
    }

    private static String readRest(BufferedReader r) {
        try {
            StringBuilder b = new StringBuilder();
            for (String l; (l = r.readLine()) != null; ) b.append('\n').append(l);
            return b.toString();
        } catch (java.io.IOException e) {
            return "";
        }
    }
}
