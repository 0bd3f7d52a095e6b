package jsd.crypto;

import jsd.qapi.QapiError;

import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The checks QEMU makes when tls-creds-x509 is created (sanity-check=on):
 * each certificate is within its validity dates, CA certificates are CAs
 * allowed to sign, our own certificate is not a CA, may sign, is meant for
 * our side of the connection, and chains to the CA. Usage and purpose
 * extensions are only binding when marked critical, which is how GnuTLS
 * and QEMU read them. Messages are qemu-storage-daemon 7.2's.
 */
final class X509Checks {
    private X509Checks() {}

    private static final String KP_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String KP_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String KP_ANY = "2.5.29.37.0";
    private static final String OID_KEY_USAGE = "2.5.29.15";
    private static final String OID_EXT_KEY_USAGE = "2.5.29.37";
    private static final int KU_DIGITAL_SIGNATURE = 0;
    private static final int KU_KEY_CERT_SIGN = 5;

    /** role: "server", "client" or "CA" as QEMU words it. */
    static void validity(X509Certificate c, Path file, String role, Date now) {
        if (now.after(c.getNotAfter())) {
            throw QapiError.generic("The %s certificate %s has expired", role, file);
        }
        if (now.before(c.getNotBefore())) {
            throw QapiError.generic("The %s certificate %s is not yet active", role, file);
        }
    }

    static void basicConstraints(X509Certificate c, Path file, boolean wantCA, boolean isServer) {
        boolean present = c.getExtensionValue("2.5.29.19") != null;
        boolean isCA = c.getBasicConstraints() >= 0;
        if (wantCA) {
            if (!present) throw QapiError.generic("The certificate %s is missing basic constraints for a CA", file);
            if (!isCA) throw QapiError.generic("The certificate %s basic constraints do not show a CA", file);
        } else if (isCA) {
            throw QapiError.generic("The certificate %s basic constraints show a CA, but we need one for a %s",
                    file, isServer ? "server" : "client");
        }
    }

    static void keyUsage(X509Certificate c, Path file, boolean isCA) {
        boolean[] ku = c.getKeyUsage();
        if (ku == null || !critical(c, OID_KEY_USAGE)) return;
        if (isCA && !bit(ku, KU_KEY_CERT_SIGN)) {
            throw QapiError.generic("Certificate %s usage does not permit certificate signing", file);
        }
        if (!isCA && !bit(ku, KU_DIGITAL_SIGNATURE)) {
            throw QapiError.generic("Certificate %s usage does not permit digital signature", file);
        }
    }

    static void purpose(X509Certificate c, Path file, boolean isServer) {
        List<String> purposes;
        try {
            purposes = c.getExtendedKeyUsage();
        } catch (java.security.cert.CertificateParsingException e) {
            throw QapiError.generic("Unable to query certificate %s key purpose: %s", file, e.getMessage());
        }
        if (purposes == null || !critical(c, OID_EXT_KEY_USAGE)) return;
        boolean ok = purposes.contains(KP_ANY) || purposes.contains(isServer ? KP_SERVER_AUTH : KP_CLIENT_AUTH);
        if (!ok) {
            throw QapiError.generic("Certificate %s purpose does not allow use with a TLS %s",
                    file, isServer ? "server" : "client");
        }
    }

    /** Our certificate (with the intermediates after it in its file) must chain to one of the CAs. */
    static void chain(List<X509Certificate> own, List<X509Certificate> cas, Path ownFile, Path caFile) {
        try {
            Set<TrustAnchor> anchors = new HashSet<>();
            for (X509Certificate ca : cas) anchors.add(new TrustAnchor(ca, null));
            PKIXParameters p = new PKIXParameters(anchors);
            p.setRevocationEnabled(false);
            var path = CertificateFactory.getInstance("X.509").generateCertPath(own);
            CertPathValidator.getInstance("PKIX").validate(path, p);
        } catch (CertPathValidatorException e) {
            String why = e.getReason() == CertPathValidatorException.BasicReason.EXPIRED
                    ? "The certificate has expired"
                    : e.getReason() == CertPathValidatorException.BasicReason.NOT_YET_VALID
                    ? "The certificate is not yet activated"
                    : "The certificate hasn't got a known issuer";
            throw QapiError.generic("Our own certificate %s failed validation against %s: %s", ownFile, caFile, why);
        } catch (GeneralSecurityException e) {
            throw QapiError.generic("Our own certificate %s failed validation against %s: %s", ownFile, caFile, e.getMessage());
        }
    }

    /** Whether the private key belongs to the certificate: sign with one, verify with the other. */
    static boolean keyMatches(PrivateKey key, PublicKey pub) {
        String alg = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "RSASSA-PSS" -> "RSASSA-PSS";
            case "EC" -> "SHA256withECDSA";
            case "DSA" -> "SHA256withDSA";
            default -> key.getAlgorithm(); // Ed25519, Ed448
        };
        try {
            byte[] probe = new byte[32];
            new SecureRandom().nextBytes(probe);
            Signature s = Signature.getInstance(alg);
            if (alg.equals("RSASSA-PSS")) {
                s.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            s.initVerify(pub);
            s.update(probe);
            return s.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static boolean critical(X509Certificate c, String oid) {
        Set<String> crit = c.getCriticalExtensionOIDs();
        return crit != null && crit.contains(oid);
    }

    private static boolean bit(boolean[] bits, int i) { return i < bits.length && bits[i]; }
}
