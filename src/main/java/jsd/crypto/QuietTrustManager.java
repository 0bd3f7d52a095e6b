package jsd.crypto;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;

/**
 * Checks client certificates exactly as the wrapped trust manager does, but
 * names no acceptable CAs in the CertificateRequest. GnuTLS 3.7 clients
 * (libnbd, qemu-img) that pick their certificate by the server's CA list
 * also demand a PKCS#1 RSA signature scheme in that request before they
 * offer an RSA certificate, which JSSE rightly leaves out of a TLS 1.3
 * request; they then send no certificate at all. With no CA list they send
 * the one certificate they have, and GnuTLS servers never cause this
 * because they list the PKCS#1 schemes.
 */
final class QuietTrustManager extends X509ExtendedTrustManager {
    private static final X509Certificate[] NONE = new X509Certificate[0];

    private final X509ExtendedTrustManager delegate;

    QuietTrustManager(X509ExtendedTrustManager delegate) { this.delegate = delegate; }

    @Override
    public X509Certificate[] getAcceptedIssuers() { return NONE; }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        delegate.checkServerTrusted(chain, authType, engine);
    }
}
