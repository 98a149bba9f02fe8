package broker

// Fetch responses carry record batches straight from segment files. The
// handler encodes the response with kmsg, putting a unique 16-byte marker
// where each partition's records go; writing the response finds each
// marker, rewrites the length prefix before it, and sends the file range in
// its place with sendfile(2), so record bytes are never copied through user
// space. Files that are not plain OS files (tests inject faults through the
// vfs seam) are read into a buffer instead.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/vfs"
)

const markerLen = 16

// markerPrefix makes markers unique to this process, so no other bytes of
// a response (topic names, say) can be mistaken for one.
var markerPrefix = func() [8]byte {
	var p [8]byte
	if _, err := rand.Read(p[:]); err != nil {
		panic("broker: no randomness for fetch markers: " + err.Error())
	}
	return p
}()

func marker(i int) []byte {
	m := make([]byte, markerLen)
	copy(m, markerPrefix[:])
	binary.BigEndian.PutUint64(m[8:], uint64(i))
	return m
}

// splicedResponse is a response whose byte fields marked by add are
// replaced, when written, by the bytes of a log read.
type splicedResponse struct {
	kmsg.Response
	flexible bool
	regions  []log.ReadResult
}

// release lets go of the segment files of the reads; called once the
// response was written, or failed to be.
func (s *splicedResponse) release() {
	for _, rr := range s.regions {
		rr.Release()
	}
}

// add registers a read, which the response now owns, and returns the
// placeholder to put in its field.
func (s *splicedResponse) add(rr log.ReadResult) []byte {
	s.regions = append(s.regions, rr)
	return marker(len(s.regions) - 1)
}

// piece is one part of a spliced frame: bytes, or a log read.
type piece struct {
	b      []byte
	region *log.ReadResult
}

// splice cuts the encoded frame (size prefix included) at the markers and
// returns the pieces and the real frame size.
func (s *splicedResponse) splice(frame []byte) ([]piece, int, error) {
	var pieces []piece
	size := len(frame) - 4
	rest := frame
	for i := range s.regions {
		m := marker(i)
		at := bytes.Index(rest, m)
		oldPrefix := 4 // int32 length of non-flexible bytes
		if s.flexible {
			oldPrefix = 1 // uvarint(16+1)
		}
		if at < oldPrefix {
			return nil, 0, fmt.Errorf("fetch response marker %d not found", i)
		}
		n := s.regions[i].Size()
		var prefix []byte
		if s.flexible {
			prefix = binary.AppendUvarint(nil, uint64(n)+1)
		} else {
			prefix = binary.BigEndian.AppendUint32(nil, uint32(n))
		}
		pieces = append(pieces, piece{b: rest[:at-oldPrefix]}, piece{b: prefix}, piece{region: &s.regions[i]})
		size += len(prefix) + n - oldPrefix - markerLen
		rest = rest[at+markerLen:]
	}
	pieces = append(pieces, piece{b: rest})
	binary.BigEndian.PutUint32(pieces[0].b, uint32(size))
	return pieces, size, nil
}

// writeSpliced sends the pieces of a spliced frame.
func (c *conn) writeSpliced(pieces []piece) error {
	var pending net.Buffers
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		_, err := pending.WriteTo(c.nc)
		pending = pending[:0]
		return err
	}
	for _, p := range pieces {
		if p.region == nil {
			if len(p.b) > 0 {
				pending = append(pending, p.b)
			}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := c.sendRegion(p.region); err != nil {
			return err
		}
	}
	return flush()
}

// sendRegion sends a log read with sendfile when both ends allow it.
func (c *conn) sendRegion(rr *log.ReadResult) error {
	f, pos, n := rr.File()
	tc, isTCP := c.nc.(*net.TCPConn)
	osf, isOS := f.(vfs.OSFiler)
	if !isTCP || !isOS {
		buf, err := rr.AppendTo(getBuf(n)[:0])
		if err == nil {
			_, err = c.nc.Write(buf)
		}
		putBuf(buf)
		return err
	}
	return sendFile(tc, osf.OSFile(), pos, n)
}

var errShortFile = errors.New("segment file shorter than the batches read from it")

// sendFile copies n bytes at off of f to the socket with sendfile(2). The
// file's raw-conn callback holds its descriptor open for the duration, so a
// concurrent close (topic deletion) cannot hand the number to another file.
func sendFile(tc *net.TCPConn, f *os.File, off int64, n int) error {
	src, err := f.SyscallConn()
	if err != nil {
		return err
	}
	dst, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	ctrlErr := src.Control(func(sfd uintptr) {
		werr := dst.Write(func(dfd uintptr) bool {
			for n > 0 {
				m, err := syscall.Sendfile(int(dfd), int(sfd), &off, min(n, 1<<30))
				if m > 0 {
					n -= m
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					sendErr = err
					return true
				case m == 0:
					sendErr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = werr
		}
	})
	if ctrlErr != nil {
		return ctrlErr
	}
	if errors.Is(sendErr, io.ErrUnexpectedEOF) {
		return errShortFile
	}
	return sendErr
}
