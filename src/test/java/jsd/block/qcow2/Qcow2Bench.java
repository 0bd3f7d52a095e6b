package jsd.block.qcow2;

import jsd.block.BlockNode;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The same request pattern as `qemu-img bench` (requests of one size at
 * offset + i * step, wrapping at the end of the image, depth requests in
 * flight), run on jsd's qcow2 driver in-process, so that the two block
 * layers can be compared without any transport. Not a test: run by
 * scripts/qcow2-bench.sh, which prints ratios.
 *
 * Arguments: image read|write count size depth step
 */
public final class Qcow2Bench {
    public static void main(String[] args) throws Exception {
        String image = args[0];
        boolean write = args[1].equals("write");
        long count = Long.parseLong(args[2]);
        int size = Integer.parseInt(args[3]);
        int depth = Integer.parseInt(args[4]);
        long step = Long.parseLong(args[5]);
        try (Qcow2Fixture fx = new Qcow2Fixture()) {
            BlockNode n = fx.open("{'driver':'qcow2','node-name':'q','file':{'driver':'file','filename':'" + image + "'}}");
            long imageSize = n.size();
            AtomicLong next = new AtomicLong();
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            long cpu0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < depth; t++) {
                threads.add(Thread.ofVirtual().start(() -> {
                    ByteBuffer buf = ByteBuffer.allocateDirect(size);
                    for (int k = 0; k < size; k++) buf.put(k, (byte) 0xa5);
                    try {
                        long i;
                        while ((i = next.getAndIncrement()) < count) {
                            long off = (i * step) % (imageSize - size + 1);
                            if (write) n.write(off, buf.clear(), 0);
                            else n.read(off, buf.clear());
                        }
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }));
            }
            for (Thread t : threads) t.join();
            long t1 = System.nanoTime();
            long cpu1 = os.getProcessCpuTime();
            n.flush();
            long t2 = System.nanoTime();
            // qemu-img bench stops its clock when the last request completes; its
            // metadata flush happens at close, untimed. Report the same span, and the
            // flush separately.
            System.out.printf("Run completed in %.3f seconds.%n", (t1 - t0) / 1e9);
            System.out.printf("Final flush took %.3f seconds.%n", (t2 - t1) / 1e9);
            System.out.printf("Process CPU during the requests: %.3f seconds.%n", (cpu1 - cpu0) / 1e9);
            fx.close(n);
        }
    }
}
