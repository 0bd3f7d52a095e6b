package jsd.crypto;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8DecryptorProviderBuilder;
import org.bouncycastle.openssl.jcajce.JcePEMDecryptorProviderBuilder;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reading the PEM files of a credentials directory. certtool writes a
 * human-readable dump before the PEM block, so text outside the
 * BEGIN/END lines is skipped, as GnuTLS does.
 */
final class PemFiles {
    private PemFiles() {}

    /** Used only for decrypting keys; never registered as a global JCA provider. */
    private static final Provider BC = new BouncyCastleProvider();

    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\r?\\n(.*?)-----END \\1-----", Pattern.DOTALL);

    /** Why a file could not be read as what was wanted; the message follows GnuTLS's wording. */
    static final class PemException extends Exception {
        PemException(String message) { super(message, null, false, false); }
    }

    static List<X509Certificate> certificates(Path file) throws IOException, PemException {
        List<X509Certificate> out = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (byte[] der : blocks(file, "CERTIFICATE", "X509 CERTIFICATE")) {
                out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(der)));
            }
        } catch (GeneralSecurityException e) {
            throw new PemException("ASN1 parser: Error in DER parsing.");
        }
        if (out.isEmpty()) throw new PemException("Base64 unexpected header error.");
        return out;
    }

    static List<X509CRL> crls(Path file) throws IOException, PemException {
        List<X509CRL> out = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (byte[] der : blocks(file, "X509 CRL")) {
                out.add((X509CRL) cf.generateCRL(new ByteArrayInputStream(der)));
            }
        } catch (GeneralSecurityException e) {
            throw new PemException("ASN1 parser: Error in DER parsing.");
        }
        if (out.isEmpty()) throw new PemException("Base64 decoding error.");
        return out;
    }

    /**
     * The private key in a PEM file: PKCS#8, PKCS#1 (RSA), SEC1 (EC), PKCS#8
     * encrypted, or OpenSSL's legacy encrypted PEM. password may be null.
     */
    static PrivateKey privateKey(Path file, char[] password) throws IOException, PemException {
        String text = Files.readString(file, StandardCharsets.ISO_8859_1);
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        try (PEMParser parser = new PEMParser(new StringReader(onlyPemBlocks(text)))) {
            for (Object o; (o = parser.readObject()) != null; ) {
                switch (o) {
                    case PrivateKeyInfo info -> {
                        return converter.getPrivateKey(info);
                    }
                    case PEMKeyPair pair -> {
                        return converter.getKeyPair(pair).getPrivate();
                    }
                    case PKCS8EncryptedPrivateKeyInfo enc -> {
                        if (password == null) throw new PemException("Decryption has failed.");
                        try {
                            var decryptor = new JceOpenSSLPKCS8DecryptorProviderBuilder().setProvider(BC).build(password);
                            return converter.getPrivateKey(enc.decryptPrivateKeyInfo(decryptor));
                        } catch (Exception e) {
                            throw new PemException("Decryption has failed.");
                        }
                    }
                    case PEMEncryptedKeyPair enc -> {
                        if (password == null) throw new PemException("Decryption has failed.");
                        try {
                            var decryptor = new JcePEMDecryptorProviderBuilder().setProvider(BC).build(password);
                            return converter.getKeyPair(enc.decryptKeyPair(decryptor)).getPrivate();
                        } catch (Exception e) {
                            throw new PemException("Decryption has failed.");
                        }
                    }
                    default -> {
                        // a certificate or parameters in the same file: keep looking
                    }
                }
            }
        } catch (IOException e) {
            if (e.getCause() instanceof PemException p) throw p;
            throw new PemException("The requested data were not available.");
        }
        throw new PemException("The requested data were not available.");
    }

    private static List<byte[]> blocks(Path file, String... types) throws IOException, PemException {
        String text = Files.readString(file, StandardCharsets.ISO_8859_1);
        List<byte[]> out = new ArrayList<>();
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            if (!List.of(types).contains(m.group(1))) continue;
            try {
                out.add(Base64.getMimeDecoder().decode(m.group(2)));
            } catch (IllegalArgumentException e) {
                throw new PemException("Base64 decoding error.");
            }
        }
        return out;
    }

    /** The PEM blocks of a file without the text around them (PEMParser stops at stray text). */
    private static String onlyPemBlocks(String text) {
        StringBuilder sb = new StringBuilder();
        Matcher m = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \\1-----", Pattern.DOTALL).matcher(text);
        while (m.find()) sb.append(m.group()).append('\n');
        return sb.toString();
    }
}
