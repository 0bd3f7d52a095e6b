package jsd.crypto;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.TestPki;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * object-add / object-del of secret, tls-creds-x509, tls-creds-psk and the
 * authz types through the real daemon's QMP, each good and broken case run
 * on jsd and on qemu-storage-daemon 7.2 with the same arguments, and the
 * outcome (success, or the error text) compared.
 */
class CryptoObjectsTest {
    private static Path tmp;
    private static TestPki pki;
    private static JsdProcess jsd;
    private static JsdProcess qsd;
    private static QmpClient ours;
    private static QmpClient ref;
    private static int counter;

    @BeforeAll
    static void start() throws Exception {
        tmp = Files.createTempDirectory("jsd-crypto-");
        pki = TestPki.create(tmp);
        jsd = JsdProcess.start();
        qsd = JsdProcess.startReference();
        ours = jsd.qmp();
        ref = qsd.qmp();
    }

    @AfterAll
    static void stop() throws Exception {
        if (ours != null) ours.close();
        if (ref != null) ref.close();
        if (jsd != null) jsd.close();
        if (qsd != null) qsd.close();
    }

    /** Adds the object on both daemons; returns jsd's error text or null, after checking qsd said the same. */
    private static String addOnBoth(String type, Object... props) throws Exception {
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("qom-type", type);
        String id = "o" + (++counter);
        args.put("id", id);
        for (int i = 0; i < props.length; i += 2) args.put((String) props[i], props[i + 1]);
        String mine = outcome(ours, args);
        String theirs = outcome(ref, args);
        assertEquals(theirs, mine, "object-add " + args);
        if (mine == null) {
            ours.ok("object-del", Map.of("id", id));
            ref.ok("object-del", Map.of("id", id));
        }
        return mine;
    }

    private static String outcome(QmpClient c, Map<String, Object> args) throws Exception {
        JsonNode r = c.execute("object-add", args);
        return r.has("error") ? r.get("error").get("desc").asText() : null;
    }

    private static String x509(Path dir, Object... more) throws Exception {
        List<Object> p = new ArrayList<>(List.of("dir", dir.toString(), "endpoint", "server"));
        p.addAll(List.of(more));
        return addOnBoth("tls-creds-x509", p.toArray());
    }

    @Test
    void goodServerAndClientCredentialsLoad() throws Exception {
        assertEquals(null, x509(pki.serverDir()));
        assertEquals(null, x509(pki.serverDir(), "verify-peer", false));
        assertEquals(null, addOnBoth("tls-creds-x509", "dir", pki.clientDir().toString(), "endpoint", "client"));
        // a client may have no certificate of its own
        Path onlyCa = pki.layout("only-ca", "ca-cert.pem");
        assertEquals(null, addOnBoth("tls-creds-x509", "dir", onlyCa.toString(), "endpoint", "client"));
    }

    @Test
    void missingFilesAreNamed() throws Exception {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertTrue(x509(empty).startsWith("Unable to access credentials " + empty.resolve("ca-cert.pem")));
        assertTrue(x509(pki.layout("no-cert", "ca-cert.pem")).contains("server-cert.pem: No such file"));
        assertTrue(x509(pki.layout("no-key", "ca-cert.pem", "server-cert.pem")).contains("server-key.pem: No such file"));
        assertEquals("Missing 'dir' property value", addOnBoth("tls-creds-x509", "endpoint", "server"));
        assertTrue(x509(tmp.resolve("nonexistent")).contains("No such file or directory"));
    }

    @Test
    void unreadableFilesAreRefused() throws Exception {
        Path badCa = pki.layout("bad-ca", "server-cert.pem", "server-key.pem");
        Files.writeString(badCa.resolve("ca-cert.pem"), "hello\n");
        assertEquals("Unable to import CA certificate list " + badCa.resolve("ca-cert.pem"), x509(badCa));

        Path badKey = pki.layout("bad-key", "ca-cert.pem", "server-cert.pem");
        Files.writeString(badKey.resolve("server-key.pem"), "hello\n");
        assertTrue(x509(badKey).startsWith("Cannot load certificate '"));

        Path mismatch = pki.layout("mismatch", "ca-cert.pem", "server-cert.pem");
        pki.put(mismatch, "client-key.pem", "server-key.pem");
        assertTrue(x509(mismatch).endsWith("The certificate and the given key do not match."));

        Path badCrl = pki.layout("bad-crl", "ca-cert.pem", "server-cert.pem", "server-key.pem");
        Files.writeString(badCrl.resolve("ca-crl.pem"), "junk\n");
        assertTrue(x509(badCrl).startsWith("Cannot load CRL '" + badCrl.resolve("ca-crl.pem") + "'"));
    }

    @Test
    void certificateSanityChecksMatchQemu() throws Exception {
        String[] usual = {"cn = localhost", "tls_www_server", "encryption_key", "signing_key"};
        pki.issue("expired", "server-key.pem", "expired-cert.pem", concat(usual,
                "activation_date = \"2019-01-01 00:00:00\"", "expiration_date = \"2020-01-01 00:00:00\""));
        pki.issue("future", "server-key.pem", "future-cert.pem", concat(usual,
                "activation_date = \"2099-01-01 00:00:00\"", "expiration_date = \"2100-01-01 00:00:00\""));
        pki.issue("isca", "server-key.pem", "isca-cert.pem", concat(usual, "ca", "expiration_days = 30"));
        pki.opensslServerCert("eku-client-cert.pem", "extendedKeyUsage=critical,clientAuth");
        pki.opensslServerCert("eku-other-cert.pem", "extendedKeyUsage=critical,codeSigning");
        pki.opensslServerCert("ku-nosig-cert.pem", "keyUsage=critical,keyEncipherment");
        pki.opensslServerCert("ku-nosig-noncritical-cert.pem", "keyUsage=keyEncipherment");
        pki.opensslServerCert("eku-client-noncritical-cert.pem", "extendedKeyUsage=clientAuth");
        for (String cert : List.of("expired", "future", "isca", "eku-client", "eku-other", "ku-nosig",
                "ku-nosig-noncritical", "eku-client-noncritical")) {
            Path d = pki.layout("sanity-" + cert, "ca-cert.pem", "server-key.pem");
            pki.put(d, cert + "-cert.pem", "server-cert.pem");
            String err = x509(d); // compared with qemu inside
            if (cert.endsWith("noncritical")) assertEquals(null, err, cert);
            else assertTrue(err != null && err.contains(d.resolve("server-cert.pem").toString()), cert + ": " + err);
            // sanity-check=off skips all of them (qemu 7.2 has the property too)
        }

        pki.otherCa("wrong-ca-key.pem", "wrong-ca-cert.pem");
        Path wrongCa = pki.layout("wrong-ca", "server-cert.pem", "server-key.pem");
        pki.put(wrongCa, "wrong-ca-cert.pem", "ca-cert.pem");
        assertTrue(x509(wrongCa).startsWith("Our own certificate " + wrongCa.resolve("server-cert.pem") + " failed validation"));

        // the CA itself: expired
        Path caExpired = Files.createDirectories(tmp.resolve("ca-expired"));
        Files.write(caExpired.resolve("ca.info"), List.of("cn = Test CA", "ca", "cert_signing_key",
                "activation_date = \"2019-01-01 00:00:00\"", "expiration_date = \"2020-01-01 00:00:00\""));
        Tools.run(caExpired, "certtool", "--generate-self-signed", "--load-privkey", pki.file("ca-key.pem").toString(),
                "--template", "ca.info", "--outfile", "ca-cert.pem").expectOk();
        pki.put(caExpired, "server-cert.pem", "server-cert.pem");
        pki.put(caExpired, "server-key.pem", "server-key.pem");
        assertEquals("The CA certificate " + caExpired.resolve("ca-cert.pem") + " has expired", x509(caExpired));
    }

    @Test
    void encryptedKeyNeedsTheRightSecret() throws Exception {
        Path enc = pki.layout("enc", "ca-cert.pem", "server-cert.pem");
        Tools.run(enc, "openssl", "pkcs8", "-topk8", "-in", pki.file("server-key.pem").toString(), "-passout",
                "pass:hunter2", "-v2", "aes-256-cbc", "-out", "server-key.pem").expectOk();
        assertTrue(x509(enc).endsWith("Decryption has failed."));
        assertEquals("No secret with id 'nosuch'", x509(enc, "passwordid", "nosuch"));
        for (QmpClient c : List.of(ours, ref)) {
            c.ok("object-add", Map.of("qom-type", "secret", "id", "pw-good", "data", "hunter2"));
            c.ok("object-add", Map.of("qom-type", "secret", "id", "pw-bad", "data", "hunter3"));
            c.ok("object-add", Map.of("qom-type", "secret", "id", "pw-b64", "data", "aHVudGVyMg==", "format", "base64"));
        }
        assertEquals(null, x509(enc, "passwordid", "pw-good"));
        assertEquals(null, x509(enc, "passwordid", "pw-b64"));
        assertTrue(x509(enc, "passwordid", "pw-bad").endsWith("Decryption has failed."));
    }

    @Test
    void secretErrorsMatchQemu() throws Exception {
        Path f = Files.writeString(tmp.resolve("secret.txt"), "s3cret");
        assertEquals(null, addOnBoth("secret", "file", f.toString()));
        assertEquals("'file' and 'data' are mutually exclusive", addOnBoth("secret", "data", "x", "file", f.toString()));
        assertEquals("Either 'file' or 'data' must be provided", addOnBoth("secret"));
        assertEquals("Base64 data contains invalid characters", addOnBoth("secret", "data", "@@@", "format", "base64"));
        assertEquals("No secret with id 'nokey'", addOnBoth("secret", "data", "eA==", "keyid", "nokey",
                "iv", "AAAAAAAAAAAAAAAAAAAAAA==", "format", "base64"));
        String missing = addOnBoth("secret", "file", tmp.resolve("none").toString());
        assertTrue(missing.startsWith("Unable to read " + tmp.resolve("none")), missing);
    }

    @Test
    void pskCredentialsMatchQemu() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("psk"));
        Files.writeString(dir.resolve("keys.psk"), "alice:00112233445566778899aabbccddeeff\nbad:zz\n");
        assertEquals(null, addOnBoth("tls-creds-psk", "dir", dir.toString(), "endpoint", "server"));
        assertEquals(null, addOnBoth("tls-creds-psk", "dir", dir.toString(), "endpoint", "client", "username", "alice"));
        assertEquals("Username qemu not found in PSK file " + dir.resolve("keys.psk"),
                addOnBoth("tls-creds-psk", "dir", dir.toString(), "endpoint", "client"));
        assertEquals("Cannot set PSK client credentials: Error in parsing.",
                addOnBoth("tls-creds-psk", "dir", dir.toString(), "endpoint", "client", "username", "bad"));
        Path none = Files.createDirectories(tmp.resolve("psk-none"));
        assertEquals("Unable to access credentials " + none.resolve("keys.psk") + ": No such file or directory",
                addOnBoth("tls-creds-psk", "dir", none.toString(), "endpoint", "server"));
    }

    @Test
    void authzObjects() throws Exception {
        assertEquals(null, addOnBoth("authz-simple", "identity", "fred"));
        assertEquals(null, addOnBoth("authz-list", "policy", "allow",
                "rules", List.of(Map.of("match", "dan*", "policy", "deny", "format", "glob"))));
        assertEquals(null, addOnBoth("authz-list"));
        // qemu-storage-daemon 7.2 cannot create authz-listfile at all (its QOM type is named
        // authz-list-file); jsd can.
        Path acl = Files.writeString(tmp.resolve("acl.json"), "{\"policy\": \"deny\", \"rules\": [{\"match\": \"fred\", \"policy\": \"allow\"}]}");
        ours.ok("object-add", Map.of("qom-type", "authz-listfile", "id", "acl0", "filename", acl.toString()));
        ours.ok("object-del", Map.of("id", "acl0"));
        Files.writeString(tmp.resolve("bad.json"), "{\"policy\": \"maybe\"}");
        String e = ours.error("object-add", Map.of("qom-type", "authz-listfile", "id", "acl1",
                "filename", tmp.resolve("bad.json").toString())).get("desc").asText();
        assertTrue(e.contains("policy"), e);
        e = ours.error("object-add", Map.of("qom-type", "authz-listfile", "id", "acl2",
                "filename", tmp.resolve("nope.json").toString())).get("desc").asText();
        assertTrue(e.contains("No such file or directory"), e);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
