package jsd.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Certificates for TLS tests, made with GnuTLS's certtool (as QEMU's docs
 * do) in a directory: a CA, a server certificate for localhost/127.0.0.1, a
 * client certificate whose distinguished name is {@link #CLIENT_DN}, and
 * helpers for broken variants (expired, another CA, odd extensions made with
 * openssl). {@link #serverDir()} and {@link #clientDir()} are laid out as
 * tls-creds-x509 expects.
 */
public final class TestPki {
    /** The client's subject as QEMU (GnuTLS 3.7) prints it for tls-authz. */
    public static final String CLIENT_DN = "C=GB,ST=London,L=London,O=Example Org,CN=laptop.example.com";

    private final Path root;

    private TestPki(Path root) { this.root = root; }

    public static TestPki create(Path root) throws IOException, InterruptedException {
        TestPki p = new TestPki(root);
        Files.createDirectories(root.resolve("pki"));
        p.key("ca-key.pem", "rsa");
        p.template("ca.info", "cn = Test CA", "ca", "cert_signing_key", "expiration_days = 30");
        p.certtool("--generate-self-signed", "--load-privkey", p.pki("ca-key.pem"), "--template", p.pki("ca.info"),
                "--outfile", p.pki("ca-cert.pem"));

        p.key("server-key.pem", "rsa");
        p.issue("server", "server-key.pem", "server-cert.pem", "organization = Example Org", "cn = localhost",
                "dns_name = localhost", "ip_address = 127.0.0.1", "tls_www_server", "encryption_key", "signing_key",
                "expiration_days = 30");
        p.key("client-key.pem", "ecdsa");
        p.issue("client", "client-key.pem", "client-cert.pem", "country = GB", "state = London", "locality = London",
                "organization = Example Org", "cn = laptop.example.com", "tls_www_client", "encryption_key",
                "signing_key", "expiration_days = 30");
        p.layout("server", "ca-cert.pem", "server-cert.pem", "server-key.pem");
        p.layout("client", "ca-cert.pem", "client-cert.pem", "client-key.pem");
        return p;
    }

    public Path root() { return root; }

    /** ca-cert.pem, server-cert.pem, server-key.pem. */
    public Path serverDir() { return root.resolve("server"); }

    /** ca-cert.pem, client-cert.pem, client-key.pem. */
    public Path clientDir() { return root.resolve("client"); }

    /** A file of the PKI (ca-cert.pem, server-key.pem, client-cert.pem ...). */
    public Path file(String name) { return root.resolve("pki").resolve(name); }

    /** A new directory holding copies of these PKI files under the names tls-creds-x509 wants. */
    public Path layout(String dirName, String... files) throws IOException {
        Path d = root.resolve(dirName);
        Files.createDirectories(d);
        for (String f : files) Files.copy(file(f), d.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return d;
    }

    /** Copies a PKI file into a directory under another name. */
    public void put(Path dir, String pkiFile, String as) throws IOException {
        Files.copy(file(pkiFile), dir.resolve(as), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** Issues a certificate with the CA from a certtool template; the key is made if missing. */
    public void issue(String name, String keyFile, String certFile, String... template) throws IOException, InterruptedException {
        if (!Files.exists(file(keyFile))) key(keyFile, "ecdsa");
        template(name + ".info", template);
        certtool("--generate-certificate", "--load-ca-certificate", pki("ca-cert.pem"), "--load-ca-privkey",
                pki("ca-key.pem"), "--load-privkey", pki(keyFile), "--template", pki(name + ".info"),
                "--outfile", pki(certFile));
    }

    /** A self-signed CA of its own (another authority): writes key and certificate. */
    public void otherCa(String keyFile, String certFile) throws IOException, InterruptedException {
        key(keyFile, "ecdsa");
        template("other-ca.info", "cn = Other CA", "ca", "cert_signing_key", "expiration_days = 30");
        certtool("--generate-self-signed", "--load-privkey", pki(keyFile), "--template", pki("other-ca.info"),
                "--outfile", pki(certFile));
    }

    /**
     * A server certificate made with openssl from an extension file (certtool
     * cannot mark the extended key usage critical), signed by the CA.
     */
    public void opensslServerCert(String certFile, String... extLines) throws IOException, InterruptedException {
        Path ext = file(certFile + ".ext");
        Files.write(ext, List.of(extLines));
        Path csr = file(certFile + ".csr");
        run("openssl", "req", "-new", "-key", pki("server-key.pem"), "-subj", "/CN=localhost", "-out", csr.toString());
        run("openssl", "x509", "-req", "-in", csr.toString(), "-CA", pki("ca-cert.pem"), "-CAkey", pki("ca-key.pem"),
                "-set_serial", String.valueOf(System.nanoTime() & 0xffffff), "-days", "30", "-extfile", ext.toString(),
                "-out", pki(certFile));
    }

    public void key(String keyFile, String type) throws IOException, InterruptedException {
        certtool("--generate-privkey", "--key-type", type, "--outfile", pki(keyFile));
    }

    private void template(String name, String... lines) throws IOException {
        Files.write(file(name), List.of(lines));
    }

    private String pki(String name) { return file(name).toString(); }

    private void certtool(String... args) throws IOException, InterruptedException {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "certtool";
        System.arraycopy(args, 0, cmd, 1, args.length);
        run(cmd);
    }

    private void run(String... cmd) throws IOException, InterruptedException {
        Tools.run(root, cmd).expectOk();
    }
}
