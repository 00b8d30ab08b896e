// Package recording holds gatehouse's session recordings: the events a
// session produces, the hash chain that makes them tamper-evident, the
// signature over a session's final hash, and the write-ahead spool that
// carries events from a connector to the gateway's store.
//
// # Events and the hash chain
//
// Every session produces an ordered list of [Event] values, numbered from
// seq 1. A [Chain] assigns each event its seq, the hash of the event before it
// (Prev, "" for seq 1) and its own Hash, computed by [HashEvent]:
//
//	sha256(
//	    "gatehouse.recording.event.v1\x00"
//	    u64be(len(session)) session
//	    u64be(seq)
//	    i64be(unix seconds) u32be(nanoseconds)   // the instant, so the time zone does not matter
//	    u64be(len(type))    type
//	    u64be(len(data))    data                 // the compact JSON bytes as they are
//	    u64be(len(prev))    prev
//	)
//
// Every variable-length field carries its length, so no two different events
// share an encoding. Data must be compact JSON, because the bytes are hashed
// as they are and every later JSON encoding compacts them; [Chain.Next]
// compacts data that is not. [Verify] recomputes the chain and names the first
// broken event in a [*ChainError]. [Object] builds compact data without
// reflection on the hot path.
//
// A session's end is sealed by [Sign]: an ed25519 signature by the gateway's
// key (see [LoadOrCreateKey]) over
//
//	"gatehouse.recording.seal.v1\x00" u64be(len(session)) session u64be(lastSeq) lastHash
//
// so that removing events from the end of a session is detected as well.
//
// # The spool
//
// A [Spool] is a directory of append-only segment files named
// 0000000000000001.seg, 0000000000000002.seg, ... and one file named "acked".
// A segment is a sequence of records, each framed as
//
//	u32le(length of payload) u32le(CRC-32C (Castagnoli) of payload) payload
//
// where the payload is the event as one JSON object. A record is at most
// 16 MiB. The frame lets the spool detect a torn write (the process or the
// machine stopped in the middle of a write) and corruption: [OpenSpool]
// reads every segment not yet acknowledged and truncates a segment at its
// first record that is incomplete, fails its CRC or does not decode, so such
// bytes are never shipped. A new segment is started when the current one
// reaches [SpoolOptions.SegmentSize], and at every open unless the last
// segment is empty, so that appends never follow bytes of a previous run.
//
// [Spool.Append] encodes its events into one buffer and copies it into the
// segment file before it returns: an event is in the spool (in the kernel's
// page cache), and survives the process crashing, before the statement it
// describes reaches the target. Surviving a machine crash needs fsync, which
// a background goroutine does every [SpoolOptions.SyncInterval] and
// [Spool.Sync] does on demand, and which sealing a segment does.
//
// On Linux, a segment is preallocated to SegmentSize (fallocate) at its
// first append and mapped into memory, so that an append is a copy rather
// than a write(2) call; elsewhere, or if that fails, appends use one
// write(2) each. Preallocated space reads as zeros, and no record starts
// with a zero header, so after a crash the records end at the first zero
// header: recovery cuts the segment there, and since it stops at the first
// bad record, a record copied in part (in any byte order) hides every byte
// after it. A segment file is preallocated only when new or empty, so the
// space after its records never holds bytes of an earlier run. A sealed
// segment (rotated, or closed with the spool) is cut to its records.
//
// The spool has one reader cursor, for the shipper. [Spool.Next] returns the
// events after the last ones it returned, with the [Position] after them;
// once the gateway has stored them, [Spool.Ack] records that position in the
// "acked" file and deletes the segments before it. The file has two
// fixed-size, CRC-protected slots in different pages,
//
//	"GHA2" u64le(generation) u64le(segment) i64le(offset) u32le(CRC-32C of the 28 bytes before)
//
// at offsets 0 and 4096; Ack overwrites the older one in place, and reading
// takes the intact slot of the highest generation, so a torn write costs at
// most one acknowledgement (those events are sent again). A spool left by an
// earlier version, whose "acked" file is the line
// "gatehouse-spool-ack v1 <segment> <offset>\n", is read as it is, and
// converted at its first Ack. [Spool.Rewind] makes the
// next Next start again from the acknowledged position, after a failed send.
// After a restart, reading starts from the acknowledged position, so events
// sent but not acknowledged are delivered again: the receiver must accept a
// repeated (session, seq) as the same event. [Ship] runs that loop.
//
// One process at a time may open a spool directory; the spool does not lock
// it.
package recording
