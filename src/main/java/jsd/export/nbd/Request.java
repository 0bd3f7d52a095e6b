package jsd.export.nbd;

import java.nio.ByteBuffer;

/**
 * A request handed from the reader to another thread. payload is a
 * pooled buffer owned by the request (WRITE only), returned when done.
 */
record Request(int type, int flags, long cookie, long offset, long length, ByteBuffer payload) {}
