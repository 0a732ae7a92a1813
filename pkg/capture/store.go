package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// DefaultMaxMessages is how many messages a capture server keeps in
// memory (and in its IMAP mailbox, and serves over HTTP) by default; the
// oldest is dropped for each one over. A development sink that runs for
// days must not grow without end.
const DefaultMaxMessages = 1000

// store holds the accepted messages, oldest first, at most max of them.
// Every change closes the changed channel and makes a new one, which is
// how waiters (the wait call, the event stream) learn of it.
type store struct {
	mu      sync.Mutex
	max     int
	list    []*Message
	byID    map[string]*Message
	dropped int // messages dropped for the cap, since start
	total   int // messages accepted since start
	cleared int // bumped on every delete, so streams can say "reload"
	changed chan struct{}
}

func newStore(max int) *store {
	return &store{max: max, byID: map[string]*Message{}, changed: make(chan struct{})}
}

// notifyLocked wakes everyone waiting for a change.
func (st *store) notifyLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// add appends m and returns the messages dropped for the cap.
func (st *store) add(m *Message) (dropped []*Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.list = append(st.list, m)
	st.byID[m.ID] = m
	st.total++
	for st.max > 0 && len(st.list) > st.max {
		old := st.list[0]
		st.list[0] = nil
		st.list = st.list[1:]
		delete(st.byID, old.ID)
		st.dropped++
		dropped = append(dropped, old)
	}
	if cap(st.list) > 4*st.max+64 && len(st.list) < cap(st.list)/2 {
		// The slice only grows at its end and shrinks at its start:
		// copy now and then, so the dropped messages' slots are freed.
		st.list = append([]*Message(nil), st.list...)
	}
	st.notifyLocked()
	return dropped
}

func (st *store) get(id string) *Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byID[id]
}

// latest is the newest message, or nil.
func (st *store) latest() *Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.list) == 0 {
		return nil
	}
	return st.list[len(st.list)-1]
}

// remove deletes the messages with these ids (all when ids is nil) and
// returns them.
func (st *store) remove(ids []string) []*Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	var gone []*Message
	if ids == nil {
		gone = st.list
		st.list = nil
		st.byID = map[string]*Message{}
	} else {
		del := map[string]bool{}
		for _, id := range ids {
			if m := st.byID[id]; m != nil {
				del[id] = true
				gone = append(gone, m)
				delete(st.byID, id)
			}
		}
		if len(del) > 0 {
			kept := st.list[:0:0]
			for _, m := range st.list {
				if !del[m.ID] {
					kept = append(kept, m)
				}
			}
			st.list = kept
		}
	}
	if len(gone) > 0 {
		st.cleared++
		st.notifyLocked()
	}
	return gone
}

// newestFirst returns the messages, newest first, and the channel that
// is closed at the next change.
func (st *store) newestFirst() ([]*Message, <-chan struct{}) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*Message, len(st.list))
	for i, m := range st.list {
		out[len(st.list)-1-i] = m
	}
	return out, st.changed
}

// StoreStats are the store's counters.
type StoreStats struct {
	Messages int `json:"messages"`
	// Received counts messages accepted since start (loaded from --store
	// included); Dropped those dropped because the cap was reached.
	Received    int `json:"received"`
	Dropped     int `json:"dropped"`
	MaxMessages int `json:"max_messages"`
	deletes     int
}

func (st *store) stats() StoreStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	return StoreStats{Messages: len(st.list), Received: st.total, Dropped: st.dropped, MaxMessages: st.max, deletes: st.cleared}
}

// imapRef is where a message was appended in the IMAP server, so that
// it can be expunged when the message is dropped or deleted.
type imapRef struct {
	user *imapmemserver.User
	uid  imap.UID
}

// expunge removes the IMAP copies of these messages, one session per
// mailbox user (a client may have moved a copy: then it stays where the
// client put it).
func (s *Server) expunge(ms []*Message) {
	byUser := map[*imapmemserver.User]*imap.UIDSet{}
	var users []*imapmemserver.User
	for _, m := range ms {
		for _, r := range m.imap {
			set := byUser[r.user]
			if set == nil {
				set = &imap.UIDSet{}
				byUser[r.user] = set
				users = append(users, r.user)
			}
			set.AddNum(r.uid)
		}
	}
	for _, u := range users {
		set := *byUser[u]
		sess := imapmemserver.NewUserSession(u)
		if _, err := sess.Select(s.folder(), nil); err != nil {
			continue
		}
		_ = sess.Store(nil, set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil)
		_ = sess.Expunge(nil, &set)
		_ = sess.Close()
	}
}

// expungeBatch is how many messages dropped for the cap are expunged from
// the IMAP mailbox at once: each expunge walks the whole mailbox, so one
// per message would cost the cap's size on every message. The mailbox may
// thus hold up to this many messages over the cap (1 in 20).
func expungeBatch(max int) int { return 1 + max/20 }

// dropped takes messages dropped for the cap: gone from the store at
// once, from the IMAP mailbox in batches. Files in --store stay.
func (s *Server) dropped(ms []*Message) {
	s.mu.Lock()
	s.toExpunge = append(s.toExpunge, ms...)
	var batch []*Message
	if len(s.toExpunge) >= expungeBatch(s.o.MaxMessages) {
		batch, s.toExpunge = s.toExpunge, nil
	}
	s.mu.Unlock()
	if batch != nil {
		s.expunge(batch)
	}
}

// forget removes deleted messages from the IMAP mailbox (with those
// dropped and not yet expunged) and from the store directory.
func (s *Server) forget(ms []*Message) {
	s.mu.Lock()
	batch := append(s.toExpunge, ms...)
	s.toExpunge = nil
	s.mu.Unlock()
	s.expunge(batch)
	for _, m := range ms {
		if m.StoredAs != "" {
			_ = os.Remove(m.StoredAs)
			_ = os.Remove(metaName(m.StoredAs))
		}
	}
}

// Stored files are NNNN-ID.eml, with the envelope, transcript and
// analysis beside them in NNNN-ID.json.
var storedName = lazyre.New(`^(\d+)-([A-Z2-7]{4,32})\.eml$`)

func metaName(eml string) string { return eml[:len(eml)-len(".eml")] + ".json" }

// load reads the messages a previous run wrote to dir, oldest first,
// keeping the newest max. A file that cannot be read is reported through
// Logf and skipped.
func (s *Server) load(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	type file struct {
		seq  int
		id   string
		path string
	}
	var files []file
	for _, e := range ents {
		m := storedName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		files = append(files, file{n, m[2], filepath.Join(dir, e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].seq < files[j].seq })
	if len(files) > 0 {
		s.seq = files[len(files)-1].seq
	}
	if s.o.MaxMessages > 0 && len(files) > s.o.MaxMessages {
		files = files[len(files)-s.o.MaxMessages:]
	}
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if err != nil || fi.Size() > s.o.MaxMessageBytes+1<<20 {
			s.o.Logf("capture: --store: skipping %s: %v", f.path, errOr(err, "larger than --max-size"))
			continue
		}
		raw, err := os.ReadFile(f.path)
		if err != nil {
			s.o.Logf("capture: --store: skipping %s: %v", f.path, err)
			continue
		}
		m := &Message{Seq: f.seq, ID: f.id, Received: fi.ModTime(), Raw: raw, Size: len(raw), StoredAs: f.path}
		if b, err := os.ReadFile(metaName(f.path)); err == nil && len(b) < 4<<20 {
			var meta Message
			if json.Unmarshal(b, &meta) == nil && meta.ID == f.id {
				meta.Raw, meta.Size, meta.StoredAs, meta.Seq = raw, len(raw), f.path, f.seq
				m = &meta
			}
		}
		// The analysis is made again: the rules may have changed since.
		s.judge(m)
		m.Restored = true
		s.appendIMAP(m, m.Rcpt)
		if d := s.messages.add(m); len(d) > 0 {
			s.dropped(d)
		}
	}
	return nil
}

func errOr(err error, s string) error {
	if err != nil {
		return err
	}
	return errors.New(s)
}
