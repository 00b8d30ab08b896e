-- Events are stored in chunks: one row holds a run of one session's events,
-- in increasing seq order, encoded by chunkEncoder (chunk.go). The chunks of
-- a session cover disjoint seq ranges, so ordering them by first_seq orders
-- their events. A chunk may skip seqs (events that have not arrived); n is
-- its number of events.
--
-- Rows are large (a chunk is often tens of KiB), so this is a rowid table:
-- in a WITHOUT ROWID table the blob would be part of the primary key's
-- b-tree record, and each key comparison during an insert can read a whole
-- overflowing row from disk.
CREATE TABLE event_chunks (
	session   TEXT NOT NULL,
	first_seq INTEGER NOT NULL,
	last_seq  INTEGER NOT NULL,
	n         INTEGER NOT NULL,
	data      BLOB NOT NULL,
	PRIMARY KEY (session, first_seq)
) STRICT;

-- The rows of events are moved into event_chunks, and the table dropped,
-- by moveEventsToChunks (events.go) in this migration's transaction.
