// Package log stores one partition's log.
//
// A partition is a directory of segments holding Kafka v2 record batches
// exactly as producers sent them; the log rewrites only the header fields the
// broker owns (base offset, partition leader epoch and, for LogAppendTime
// topics or lying producers, the timestamp attributes, with the CRC
// recomputed). Each record batch is validated on Append, given offsets,
// written with one pwrite and served back byte for byte by Read, which is
// what lets fetches be zero-copy. Old clients' message sets (magic 0 and 1)
// are converted to and from v2 batches at the edge (UpConvert, DownConvert;
// see legacy.go); the log itself holds v2 batches only.
//
// # Directory layout
//
//	00000000000000000000.log        record batches, back to back (see batch.go)
//	00000000000000000000.index      sparse offset index (see index.go)
//	00000000000000000000.timeindex  sparse time index (see index.go)
//	00000000000000001234.snapshot   producer and transaction state as of offset 1234 (see snapshot.go)
//	.clean_shutdown                 present only while the log is closed cleanly
//	offsets.checkpoint              log start offset and cleaner offset (see retention.go)
//	*.deleted                       files of deleted segments, removed after file.delete.delay.ms; the file is
//	                                closed then, or when the last read holding it releases it (retention.go)
//	*.cleaned, *.swap               a cleaned segment being written or swapped in (see clean_swap.go)
//
// The 20-digit number of a segment is the offset of its first batch.
//
// # Durability
//
// Appends reach the page cache; Config.FlushMessages and Config.FlushMs
// decide when the log is fsynced, as in Kafka. A producer snapshot is written
// at each segment roll only after everything before the new segment (data
// and indexes) has been fsynced, so the newest valid snapshot is also the
// recovery point: an unclean Open fully verifies (CRC) every segment from it
// on, and only sanity-checks the ones before it. See recover.go. Recovery
// never deletes a segment nor truncates data below the recovery point.
//
// # Damage on disk
//
// Reads never serve a batch that fails its CRC: each segment tracks which
// of its bytes were checked, Read checks the rest of what it is about to
// serve once, and Scrub checks the remainder in the background. Damage
// found on disk is ErrDiskCorruption (also IsCorruption), unlike a corrupt
// produced batch; it is logged once per batch and counted (Corruptions).
// See verify.go.
//
// # Transactions
//
// Transactional batches open a transaction per producer; AppendMarker
// writes the commit or abort control batch that closes it. The log keeps
// the open transactions (for the last stable offset, which ReadCommitted
// and compaction stop at) and the aborted ones (Kafka's .txnindex, kept in
// the producer snapshot instead of a file per segment). See txn.go. The
// cleaner drops aborted records and, once a transaction has no batch left
// and its delete horizon has passed, its marker too (see clean_txn.go).
//
// # Concurrency
//
// A Log is safe for concurrent use. Appends are serialised by a mutex, but
// validation (CRC, decompression) runs before taking it and fsyncs run after
// releasing it; reads take the mutex only to find positions and do their
// I/O outside it. The cleaner holds no lock while it reads and writes;
// only its swap of a cleaned segment takes rollMu and, briefly, the mutex.
// Lock order: see DESIGN.md, "Lock order" (the one list).
package log
