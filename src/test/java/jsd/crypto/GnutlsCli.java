package jsd.crypto;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs gnutls-cli (the GnuTLS client that qemu-img and nbdinfo share the
 * library of) against a test server: sends "ping", waits for the echo, then
 * ends its input so it closes the session.
 */
final class GnutlsCli {
    record Result(int exitCode, String stdout, String stderr) {
        boolean echoed() { return stdout.contains("ping"); }

        @Override
        public String toString() { return "exit " + exitCode + "\nstdout: " + stdout + "\nstderr: " + stderr; }
    }

    private GnutlsCli() {}

    static Result run(int port, String priority, String... options) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("gnutls-cli", "-p", String.valueOf(port), "--priority", priority));
        cmd.addAll(List.of(options));
        cmd.add("localhost");
        Process p = new ProcessBuilder(cmd).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread errPump = pump(p.getErrorStream(), err);
        Thread outPump = pump(p.getInputStream(), out);
        OutputStream in = p.getOutputStream();
        // gnutls-cli reads its input only after the handshake; a failed one ends it by itself.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        boolean sent = false;
        while (p.isAlive() && System.nanoTime() < deadline) {
            String o = text(out);
            if (!sent && o.contains("hello id=")) {
                in.write("ping\n".getBytes(StandardCharsets.US_ASCII));
                in.flush();
                sent = true;
            }
            if (sent && o.contains("ping")) break;
            Thread.sleep(20);
        }
        try {
            in.close();
        } catch (IOException ignored) {
            // it may have exited already
        }
        if (!p.waitFor(20, TimeUnit.SECONDS)) p.destroyForcibly().waitFor();
        outPump.join();
        errPump.join();
        return new Result(p.exitValue(), text(out), text(err));
    }

    private static Thread pump(InputStream s, ByteArrayOutputStream to) {
        return Thread.ofVirtual().start(() -> {
            byte[] b = new byte[4096];
            try {
                for (int n; (n = s.read(b)) > 0; ) {
                    synchronized (to) {
                        to.write(b, 0, n);
                    }
                }
            } catch (IOException ignored) {
                // process ended
            }
        });
    }

    private static String text(ByteArrayOutputStream b) {
        synchronized (b) {
            return b.toString(StandardCharsets.UTF_8);
        }
    }
}
