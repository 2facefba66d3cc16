package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// TestReadFrameAllocatesAsBytesArrive: a header that announces a large
// packet followed by a few bytes costs a few kilobytes, not the announced
// size (64 connections doing this cost 64 MB before).
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	const declared = 1 << 20
	hdr := []byte{0x30}
	hdr = AppendVarint(hdr, declared)
	in := append(hdr, make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 16 {
		_, _, err := ReadFrame(bufio.NewReaderSize(bytes.NewReader(in), 64), 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadFrame of a cut packet = %v, want ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16*64<<10 {
		t.Errorf("16 cut packets announcing %d bytes allocated %d bytes", declared, got)
	}
	// A whole large packet still reads, at its exact length.
	whole := append(append([]byte(nil), hdr...), bytes.Repeat([]byte{7}, declared)...)
	_, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(whole)), 0)
	if err != nil || len(body) != declared || body[declared-1] != 7 {
		t.Fatalf("ReadFrame of %d bytes: len %d, err %v", declared, len(body), err)
	}
}
