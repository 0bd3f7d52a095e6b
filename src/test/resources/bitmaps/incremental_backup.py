#!/usr/bin/python3
"""Pull-mode incremental backup over NBD: read only the extents that the
dirty bitmap context marks dirty and write them into the backup file at the
same offsets. Prints "copied BYTES EXTENTS".

usage: incremental_backup.py URI CONTEXT BACKUP_FILE
"""
import sys
import nbd

uri, context, backup = sys.argv[1:4]
h = nbd.NBD()
h.add_meta_context(context)
h.connect_uri(uri)
if not h.can_meta_context(context):
    sys.exit("server did not agree to " + context)
size = h.get_size()
dirty = []


def extents(metacontext, offset, entries, err):
    if metacontext != context:
        return 0
    for i in range(0, len(entries), 2):
        length, flags = entries[i], entries[i + 1]
        if flags & 1:
            dirty.append((offset, length))
        offset += length
    return 0


pos = 0
while pos < size:
    before = sum(l for _, l in dirty)
    seen = []

    def cb(metacontext, offset, entries, err):
        if metacontext == context:
            seen.append(sum(entries[0::2]))
        return extents(metacontext, offset, entries, err)

    h.block_status(min(size - pos, 1 << 30), pos, cb)
    if not seen or seen[0] == 0:
        sys.exit("no progress at %d" % pos)
    pos += seen[0]

copied = 0
with open(backup, "r+b") as out:
    for off, length in dirty:
        done = 0
        while done < length:
            n = min(length - done, 1 << 20)
            data = h.pread(n, off + done)
            out.seek(off + done)
            out.write(data)
            done += n
        copied += length
h.shutdown()
print("copied", copied, len(dirty))
