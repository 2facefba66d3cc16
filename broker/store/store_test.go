package store

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
)

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.SetRetained(Message{Topic: "a", Payload: []byte("1"), QoS: 1, Retain: true})
	s.SetRetained(Message{Topic: "b", Payload: []byte("2"), Retain: true})
	s.SetRetained(Message{Topic: "a", Payload: []byte("3"), QoS: 2, Retain: true})
	s.DeleteRetained("b")
	s.SaveSession("c1", "alice")
	s.AddSub("c1", "x/#", 1)
	s.AddSub("c1", "y", 2)
	s.RemoveSub("c1", "y")
	q1 := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "x/1", Payload: []byte("p1"), QoS: 2}, QoS: 1}
	q2 := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "x/2", Payload: []byte{}, QoS: 1}, QoS: 1}
	q3 := Queued{Seq: s.NextSeq(), Msg: Message{Topic: "x/3", Payload: []byte("p3"), QoS: 1}, QoS: 1}
	s.Enqueue("c1", q1)
	s.Enqueue("c1", q2)
	s.Enqueue("c1", q3)
	s.Dequeue("c1", q2.Seq)
	s.MarkSent("c1", q1.Seq, 7)
	s.MarkReleased("c1", q1.Seq)
	q1.PacketID, q1.Released = 7, true
	s.SaveSession("gone", "")
	s.AddSub("gone", "z", 0)
	s.DeleteSession("gone")
	s.Flush()
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
	if want := []Message{{Topic: "a", Payload: []byte("3"), QoS: 2, Retain: true}}; !reflect.DeepEqual(ret, want) {
		t.Errorf("Retained = %+v, want %+v", ret, want)
	}
	ss, err := s.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	want := []Session{{ClientID: "c1", User: "alice", UserKnown: true, Subs: map[string]byte{"x/#": 1}, Queue: []Queued{q1, q3}}}
	if !reflect.DeepEqual(ss, want) {
		t.Errorf("Sessions = %+v, want %+v", ss, want)
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
