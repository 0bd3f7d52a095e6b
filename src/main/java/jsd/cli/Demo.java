package jsd.cli;

import jsd.daemon.Daemon;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * --demo: a ready-made disk served over NBD on localhost, with hints on
 * how to reach it. Everything it creates (the image, the QMP socket) lives
 * in one fresh directory that is removed when the daemon stops (Ctrl-C).
 */
final class Demo {
    static final int DEFAULT_PORT = 10809;
    static final long SIZE = 64L << 20;
    static final String GREETING = "Hello from jsd! This 64 MiB disk is served over NBD by the --demo option.\n";

    private Demo() {}

    static void start(Daemon daemon) {
        Path dir;
        try {
            dir = Files.createTempDirectory(runtimeDir(), "jsd-demo-");
            Path image = dir.resolve("demo.img");
            try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                f.setLength(SIZE); // sparse: only the greeting takes space
                f.write(GREETING.getBytes(StandardCharsets.US_ASCII));
            }
            Path qmp = dir.resolve("qmp.sock");
            daemon.onStop(() -> deleteTree(dir));
            int port = freePort();
            for (String[] o : new String[][] {
                    {"--blockdev", "driver=file,node-name=demo-file,filename=" + image},
                    {"--blockdev", "driver=raw,node-name=demo,file=demo-file"},
                    {"--chardev", "socket,id=demo-qmp,path=" + qmp + ",server=on,wait=off"},
                    {"--monitor", "chardev=demo-qmp"},
                    {"--nbd-server", "addr.type=inet,addr.host=127.0.0.1,addr.port=" + port},
                    {"--export", "type=nbd,id=demo,node-name=demo,name=demo,writable=on,description=jsd demo disk"},
            }) {
                Startup.apply(daemon, new CommandLine.Option(o[0], o[1], CommandLine.check(o[0], o[1])));
            }
            String uri = "nbd://127.0.0.1:" + port + "/demo";
            System.out.println("jsd: serving a 64 MiB demo disk (writable) over NBD as \"demo\"; Ctrl-C stops.");
            System.out.println();
            System.out.println("  nbdinfo " + uri);
            System.out.println("  qemu-img info " + uri);
            System.out.println("  qemu-io -f raw -c 'read -v 0 80' " + uri);
            System.out.println("  nbdcopy " + uri + " copy.img");
            System.out.println();
            System.out.println("  QMP monitor: " + qmp);
            System.out.println("    e.g. socat - UNIX-CONNECT:" + qmp + "   then type: {\"execute\": \"qmp_capabilities\"}");
            System.out.flush();
        } catch (IOException e) {
            throw new CommandLine.UsageError("--demo: " + e.getMessage());
        }
    }

    /** The NBD default port if nobody uses it, else any free one. */
    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT));
            return DEFAULT_PORT;
        } catch (IOException taken) {
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            }
        }
    }

    private static Path runtimeDir() {
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && Files.isDirectory(Path.of(xdg)) && Files.isWritable(Path.of(xdg))) return Path.of(xdg);
        return Path.of(System.getProperty("java.io.tmpdir"));
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("jsd: could not remove " + dir + ": " + e.getMessage());
        }
    }
}
