package store

import (
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.SetRetained(Message{Topic: "a", Payload: []byte("1"), QoS: 1, Retain: true})
	s.SetRetained(Message{Topic: "b", Payload: []byte("2"), Retain: true})
	s.SetRetained(Message{Topic: "a", Payload: []byte("3"), QoS: 2, Retain: true, Props: []byte{2, 3, 'c'}, Expires: 12345})
	s.DeleteRetained("b")
	s.SaveSession("c1", "alice")
	s.SetExpiry("c1", 60000)
	s.AddSub("c1", "x/#", 0x0d, 7) // QoS 1, No Local, Retain As Published; Subscription Identifier 7
	s.AddSub("c1", "y", 2, 0)
	s.RemoveSub("c1", "y")
	q1 := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "x/1", Payload: []byte("p1"), QoS: 2}, QoS: 1}
	q2 := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "x/2", Payload: []byte{}, QoS: 1}, QoS: 1}
	q3 := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "x/3", Payload: []byte("p3"), QoS: 1, Props: []byte{1, 1}, Expires: 99}, QoS: 1, Group: "$share/g/x/#"}
	s.Enqueue("c1", q1)
	s.Enqueue("c1", q2)
	s.Enqueue("c1", q3)
	s.Dequeue("c1", q2.Seq)
	s.MarkSent("c1", q1.Seq, 7)
	s.MarkReleased("c1", q1.Seq)
	q1.PacketID, q1.Released = 7, true
	s.SaveSession("gone", "")
	s.AddSub("gone", "z", 0, 0)
	s.DeleteSession("gone")
	w1 := Will{ClientID: "c1", User: "alice", Msg: Message{Topic: "w/c1", Payload: []byte("bye"), QoS: 1, Retain: true, Props: []byte{3, 0, 1, 'x'}},
		Expiry: 30, Due: 1700000000123}
	s.SetWill(Will{ClientID: "c1", Msg: Message{Topic: "w/old"}, Due: 1})
	s.SetWill(w1) // replaces
	s.SetWill(Will{ClientID: "c2", Msg: Message{Topic: "w/c2"}, Due: 2})
	s.DeleteWill("c2")
	s.Flush(0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ret, err := s.Retained()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Message{{Topic: "a", Payload: []byte("3"), QoS: 2, Retain: true, Props: []byte{2, 3, 'c'}, Expires: 12345}}; !reflect.DeepEqual(ret, want) {
		t.Errorf("Retained = %+v, want %+v", ret, want)
	}
	ss, err := s.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	want := []Session{{ClientID: "c1", User: "alice", UserKnown: true, Expiry: 60000, ExpiryKnown: true,
		Subs: map[string]byte{"x/#": 0x0d}, SubIDs: map[string]uint32{"x/#": 7}, Queue: []Queued{q1, q3}}}
	if !reflect.DeepEqual(ss, want) {
		t.Errorf("Sessions = %+v, want %+v", ss, want)
	}
	wills, err := s.Wills()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Will{w1}; !reflect.DeepEqual(wills, want) {
		t.Errorf("Wills = %+v, want %+v", wills, want)
	}
	if got := s.NextSeq(); got <= q3.Seq {
		t.Errorf("NextSeq after reopen = %d, want > %d", got, q3.Seq)
	}
}

// TestMigrateSessionUser: a database from before sessions had a user name
// opens, and its sessions come back with UserKnown false.
func TestMigrateSessionUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE sessions (client_id TEXT PRIMARY KEY); INSERT INTO sessions VALUES ('old')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ss, err := s.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].ClientID != "old" || ss[0].UserKnown {
		t.Errorf("Sessions = %+v, want old with UserKnown false", ss)
	}
}

// TestFlushFailedStatement: a statement failing in a batch fails the
// batch; Flush reports it (ErrNotStored) instead of hanging or reporting
// success, and the store goes on working afterwards.
func TestFlushFailedStatement(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "broker.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for range 3 {
		mark := s.Mark()
		s.SaveSession("a", "")
		s.exec(`INSERT INTO no_such_table VALUES (1)`) // a statement that fails
		s.SaveSession("b", "")
		done := make(chan error, 1)
		go func() { done <- s.Flush(mark) }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotStored) {
				t.Fatalf("Flush after a failed statement = %v, want ErrNotStored", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Flush after a failed statement hangs")
		}
	}
	if s.Failures() == 0 {
		t.Error("Failures() = 0 after failed batches")
	}
	// Later writes commit, and Flush says so.
	mark := s.Mark()
	s.SaveSession("c", "u")
	if err := s.Flush(mark); err != nil {
		t.Fatalf("Flush after recovery = %v", err)
	}
	ss, err := s.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) == 0 || ss[len(ss)-1].ClientID != "c" {
		t.Errorf("Sessions = %+v, want c last", ss)
	}
}

// TestFlushDiskFull: with the database full (max_page_count stands in for
// a full disk) enqueued messages are not acknowledged as stored; once
// space is freed, writes succeed again.
func TestFlushDiskFull(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "broker.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.exec(`PRAGMA max_page_count = 40`)
	payload := make([]byte, 4096)
	var seqs []int64
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		mark := s.Mark()
		q := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "t", Payload: payload, QoS: 1}, QoS: 1}
		s.Enqueue("c", q)
		full = s.Flush(mark)
		if full == nil {
			seqs = append(seqs, q.Seq)
		}
	}
	if !errors.Is(full, ErrNotStored) || !strings.Contains(full.Error(), "full") {
		t.Fatalf("filling the database: Flush = %v, want ErrNotStored (database or disk is full)", full)
	}
	for _, seq := range seqs[:len(seqs)/2] {
		s.Dequeue("c", seq)
	}
	mark := s.Mark()
	s.Enqueue("c", Queued{Seq: s.NextSeq(), Msg: Message{Topic: "t", Payload: []byte("x"), QoS: 1}, QoS: 1})
	if err := s.Flush(mark); err != nil {
		t.Fatalf("Flush after freeing space = %v", err)
	}
}
